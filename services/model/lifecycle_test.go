package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

// run runs the model-service binary and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), "USER=alice")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// mustRun runs the model-service binary and fails the test unless it
// exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out := run(t, args...)
	if code != 0 {
		t.Fatalf("model-service %v: exit %d\n%s", args, code, out)
	}
	return out
}

// storeHash hashes every path, mode and file content under dir.
func storeHash(t *testing.T, dir string) string {
	t.Helper()
	var paths []string
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(p + "\x00" + st.Mode().String() + "\x00"))
		if st.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// restamp writes a copy of a, created later and changed by mutate, hashing
// and naming it by the artifact format's own rule (the sha256 of its JSON
// with version and content_sha256 empty) so that it verifies.
func restamp(t *testing.T, s massmodel.Store, a *massmodel.Artifact, later time.Duration, mutate func(*massmodel.Artifact)) string {
	t.Helper()
	b, _ := a.Marshal()
	var v massmodel.Artifact
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	v.Created = v.Created.Add(later)
	if mutate != nil {
		mutate(&v)
	}
	v.Version, v.ContentSHA256 = "", ""
	body, _ := json.Marshal(v)
	sum := sha256.Sum256(body)
	v.ContentSHA256 = hex.EncodeToString(sum[:])
	v.Version = v.Created.Format("20060102T150405Z") + "-" + v.ContentSHA256[:12]
	if _, err := s.Write(&v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

func pinRMSE(t *testing.T, s massmodel.Store, v string, rmse float64) {
	t.Helper()
	_, err := s.PinMetrics(massmodel.Name, v, []massmodel.PeriodMetric{
		{PeriodStart: "2008-01-01", Period: "year", N: 114, Metric: "rmse", Estimate: rmse},
	}, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

func TestVersionsPromoteRollback(t *testing.T) {
	dir := t.TempDir()
	s := massmodel.Store{Dir: dir}
	a, _, err := massmodel.TrainToStore(context.Background(), penguins.Embedded{}, dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v1 := a.Version
	v2 := restamp(t, s, a, time.Hour, nil)
	v3 := restamp(t, s, a, 2*time.Hour, nil)
	other := restamp(t, s, a, 3*time.Hour, func(v *massmodel.Artifact) { v.Schema.Inputs[2].Levels = []string{"f", "m"} })
	corrupt := restamp(t, s, a, 4*time.Hour, nil)
	os.WriteFile(filepath.Join(dir, massmodel.Name, corrupt, massmodel.ArtifactFile), []byte(`{"name":`), 0o644)
	pinRMSE(t, s, v1, 300)
	pinRMSE(t, s, v2, 306)
	pinRMSE(t, s, v3, 330)

	ok := func(want string, args ...string) {
		t.Helper()
		if code, out := run(t, args...); code != 0 || !strings.Contains(out, want) {
			t.Errorf("%v: exit %d, want 0 with %q:\n%s", args, code, want, out)
		}
	}
	refuse := func(code int, want string, args ...string) {
		t.Helper()
		before := storeHash(t, dir)
		if c, out := run(t, args...); c != code || !strings.Contains(out, want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", args, c, code, want, out)
		}
		if storeHash(t, dir) != before {
			t.Errorf("%v changed the store", args)
		}
	}

	ok("promoted champion: (none) -> "+v1+" by alice: first", "promote", "-store", dir, "-alias", "champion", v1, "-reason", "first")
	ok("promoted challenger", "promote", "-store", dir, "-alias", "challenger", v3)
	ok("promoted champion: "+v1+" -> "+v2, "promote", "-store", dir, "-alias", "champion", v2)

	code, out := run(t, "versions", "-store", dir)
	if code != 0 {
		t.Fatalf("versions: %d %s", code, out)
	}
	lines := strings.Split(out, "\n")
	find := func(v string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, v) {
				return l
			}
		}
		t.Errorf("versions lacks %s:\n%s", v, out)
		return ""
	}
	if l := find(v2); !strings.Contains(l, a.Data.SHA256[:12]) || !strings.Contains(l, "0.8555") || !strings.Contains(l, "year 2008-01-01 306.00") || !strings.HasSuffix(strings.TrimSpace(l), "champion") {
		t.Errorf("v2 line: %s", l)
	}
	if l := find(v3); !strings.HasSuffix(strings.TrimSpace(l), "challenger") {
		t.Errorf("v3 line: %s", l)
	}
	if l := find(corrupt); !strings.Contains(l, "FAILS VERIFICATION") {
		t.Errorf("corrupt line: %s", l)
	}

	// The gate, each refusal naming why; the store unchanged.
	refuse(1, "RMSE 330.0000 against the champion's 306.0000 (+7.8%)", "promote", "-store", dir, "-alias", "champion", v3)
	refuse(1, "year 2008-01-01", "promote", "-store", dir, "-alias", "champion", v3, "-max-regression", "0.07")
	refuse(1, "input schema differs", "promote", "-store", dir, "-alias", "champion", other, "-force")
	refuse(1, "fails verification", "promote", "-store", dir, "-alias", "champion", corrupt, "-force")
	ok("promoted champion: "+v2+" -> "+v3+" by bob (forced past the RMSE check): hotfix",
		"promote", "-store", dir, "-alias", "champion", v3, "-force", "-actor", "bob", "-reason", "hotfix")
	ok("already points to", "promote", "-store", dir, "-alias", "champion", v3)

	// Bad input.
	refuse(1, "unknown alias \"staging\"", "rollback", "-store", dir, "-alias", "staging")
	refuse(1, "bad alias name \"Champion\"", "promote", "-store", dir, "-alias", "Champion", v1)
	refuse(1, "fails verification", "promote", "-store", dir, "-alias", "champion", "20990101T000000Z-0123456789ab")
	refuse(1, "not a version id", "promote", "-store", dir, "-alias", "champion", "latest")
	refuse(2, "-store, -alias and one VERSION are required", "promote", "-store", dir, "-alias", "champion")
	refuse(2, "-store and -alias are required", "rollback", "-store", dir)
	refuse(2, "-store is required", "versions")

	// Lock held by a live process (this test's): refused, naming since when.
	since := time.Now().UTC().Truncate(time.Second)
	lock, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "host": must(os.Hostname()), "since": since})
	lockPath := filepath.Join(dir, massmodel.LockFile)
	os.WriteFile(lockPath, lock, 0o644)
	refuse(1, "another promotion holds the store's lock since "+since.Format(time.RFC3339), "promote", "-store", dir, "-alias", "champion", v1)
	refuse(1, "another promotion holds the store's lock", "rollback", "-store", dir, "-alias", "champion")
	os.Remove(lockPath)

	// Rollback steps back through the history, then says there is nothing left.
	ok("rolled back champion: "+v3+" -> "+v2+" by alice", "rollback", "-store", dir, "-alias", "champion", "-reason", "regression")
	ok("rolled back champion: "+v2+" -> "+v1, "rollback", "-store", dir, "-alias", "champion")
	refuse(1, "no previous target for champion", "rollback", "-store", dir, "-alias", "champion")

	h, err := s.History(massmodel.Name)
	if err != nil || len(h) != 6 {
		t.Fatalf("history %d entries, %v", len(h), err)
	}
	if f := h[3]; !f.Forced || f.Actor != "bob" || f.Reason != "hotfix" || f.From != v2 || f.To != v3 {
		t.Errorf("forced entry: %+v", f)
	}

	// A corrupt alias file: every command says so and changes nothing.
	aliases := filepath.Join(dir, massmodel.Name, massmodel.AliasesFile)
	good, _ := os.ReadFile(aliases)
	os.WriteFile(aliases, good[:len(good)-20], 0o644)
	refuse(1, "corrupt or truncated", "versions", "-store", dir)
	refuse(1, "corrupt or truncated", "promote", "-store", dir, "-alias", "champion", v2)
	refuse(1, "corrupt or truncated", "rollback", "-store", dir, "-alias", "champion")
	os.WriteFile(aliases, good, 0o644)

	// A store path that is a file, or missing.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if code, out := run(t, "promote", "-store", file, "-alias", "champion", v1); code != 1 || !strings.Contains(out, "not a directory") {
		t.Errorf("store is a file: %d %s", code, out)
	}
	if code, out := run(t, "versions", "-store", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("missing store: %d %s", code, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
