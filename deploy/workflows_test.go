package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestWorkflows lints every GitHub Actions workflow with actionlint (the
// version pinned in go.mod), so a broken workflow fails here before it
// reaches GitHub, and checks the house rules: actions pinned to full commit
// SHAs, and a permissions block on every job.
func TestWorkflows(t *testing.T) {
	files, err := filepath.Glob("../.github/workflows/*.yml")
	if err != nil || len(files) < 4 {
		t.Fatalf("workflows: %v %v", files, err)
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}

	uses := regexp.MustCompile(`uses:\s*([^\s#]+)`)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(body), -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "./") {
				continue // a workflow of this repository
			}
			if !pinned.MatchString(ref) {
				t.Errorf("%s: %s is not pinned to a full commit SHA", filepath.Base(f), ref)
			}
		}
		checkJobPermissions(t, f, body)
	}
}

// checkJobPermissions finds each job (two-space key under "jobs:") and
// requires a permissions key in it.
func checkJobPermissions(t *testing.T, file string, body []byte) {
	lines := strings.Split(string(body), "\n")
	inJobs := false
	job, hasPerm := "", false
	flush := func() {
		if job != "" && !hasPerm {
			t.Errorf("%s: job %s has no permissions block", filepath.Base(file), job)
		}
	}
	for _, line := range lines {
		switch {
		case line == "jobs:":
			inJobs = true
		case !inJobs:
		case len(line) > 2 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ' && line[2] != '#' && strings.HasSuffix(strings.TrimSpace(line), ":"):
			flush()
			job, hasPerm = strings.TrimSuffix(strings.TrimSpace(line), ":"), false
		case strings.HasPrefix(line, "    permissions:"):
			hasPerm = true
		}
	}
	flush()
}
