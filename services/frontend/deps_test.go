package main

import (
	"os/exec"
	"strings"
	"testing"
)

// imports runs `go list -deps` on pkg and returns every package in its
// build with the packages that package imports.
func imports(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	return deps
}

// TestBinaryDoesNotLinkTheModel: the model service alone applies the model,
// so the frontend's binary links neither the model package nor the training
// library. The model service's binary, which links both, shows that the
// check can fail.
func TestBinaryDoesNotLinkTheModel(t *testing.T) {
	forbidden := []string{"github.com/sajari/regression", "github.com/palmerops/penguins/pkg/massmodel"}
	front := imports(t, ".")
	if _, ok := front["github.com/palmerops/penguins/pkg/modelapi"]; !ok {
		t.Fatalf("the frontend's dependencies lack pkg/modelapi; the listing is wrong: %d packages", len(front))
	}
	for _, f := range forbidden {
		if _, ok := front[f]; !ok {
			continue
		}
		var by []string
		for pkg, imps := range front {
			for _, imp := range imps {
				if imp == f {
					by = append(by, pkg)
				}
			}
		}
		t.Errorf("the frontend binary links %s (imported by %v)", f, by)
	}
	model := imports(t, "../model")
	for _, f := range forbidden {
		if _, ok := model[f]; !ok {
			t.Errorf("the model service does not link %s, so this test proves nothing about it", f)
		}
	}
}
