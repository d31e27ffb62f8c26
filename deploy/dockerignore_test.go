package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextMatcher reads the repository's .dockerignore with the library
// Docker's builders use.
func contextMatcher(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// secretPath reports whether a context path is a secret or local state:
// under a .secrets or .cache directory, or a .env file, at any depth.
func secretPath(p string) bool {
	parts := strings.Split(p, "/")
	for _, part := range parts[:len(parts)-1] {
		if part == ".secrets" || part == ".cache" {
			return true
		}
	}
	return parts[len(parts)-1] == ".env"
}

// TestBuildContextHasNoSecrets: the images build from the repository root
// with `COPY . .`; the database password (.secrets/db_password, as the
// compose db profile makes it), .env and the .cache of offline builds must
// not be sent. Checked for the paths they take and for every such file in
// this checkout; the build's own inputs must still be sent.
func TestBuildContextHasNoSecrets(t *testing.T) {
	pm := contextMatcher(t)
	excluded := func(p string) bool {
		t.Helper()
		ok, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, p := range []string{
		".secrets/db_password", ".secrets/api_keys/ci", ".env", ".cache/compose/go.work",
		"services/model/.env", "deploy/.secrets/db_password", "pkg/.cache/x",
	} {
		if !secretPath(p) {
			t.Fatalf("%s is not a secret path by this test's own rule", p)
		}
		if !excluded(p) {
			t.Errorf("%s would enter the build context", p)
		}
	}
	for _, p := range []string{"go.work", "go.work.sum", "pkg/go.mod", "services/model/main.go", "deploy/go.mod", "deploy/models/penguin_model/20261126T190011Z-43843ab108a1", ".env.example"} {
		if excluded(p) {
			t.Errorf("%s, which the build needs, is excluded from the context", p)
		}
	}
	// And this checkout's own: nothing under .secrets, .cache or named .env.
	n := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() && secretPath(rel) {
			n++
			if !excluded(rel) {
				t.Errorf("%s would enter the build context", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked %d secret or cache files in this checkout", n)
}
