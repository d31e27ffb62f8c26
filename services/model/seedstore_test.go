package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// board trains a version into a new board and points champion at it, as a
// release does; it returns the board and the version.
func board(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	v := trainInto(t, dir)
	if code, out := run(t, "promote", "-store", dir, "-alias", "champion", v, "-reason", "release"); code != 0 {
		t.Fatalf("promote: %s", out)
	}
	return dir, v
}

// TestSeedStore seeds an empty store, then seeds it again (nothing
// changes), then seeds a store whose champion was promoted since: the new
// board version is copied, the champion is left where the store put it.
func TestSeedStore(t *testing.T) {
	b, v1 := board(t)
	store := t.TempDir()
	code, out := run(t, "seed-store", "-board", b, "-store", store)
	if code != 0 {
		t.Fatalf("seed-store: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "copied version "+v1) || !strings.Contains(out, "set champion -> "+v1) {
		t.Errorf("output:\n%s", out)
	}
	s := massmodel.Store{Dir: store}
	if got, err := s.Alias(massmodel.Name, "champion"); err != nil || got != v1 {
		t.Fatalf("champion = %q, %v", got, err)
	}
	if _, _, err := s.Load(massmodel.Name, v1); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(massmodel.Name)
	if err != nil || len(h) != 1 || h[0].Actor != "seed-store" || !strings.Contains(h[0].Reason, b) || h[0].From != "" {
		t.Fatalf("history = %+v, %v", h, err)
	}

	before := storeHash(t, store)
	if code, out := run(t, "seed-store", "-board", b, "-store", store); code != 0 {
		t.Fatalf("second seed-store: %s", out)
	}
	if storeHash(t, store) != before {
		t.Fatal("seeding a seeded store changed it")
	}

	// The store promotes its own version; a newer board comes with a new
	// release as champion.
	own := trainInto(t, store)
	if code, out := run(t, "promote", "-store", store, "-alias", "champion", own); code != 0 {
		t.Fatal(out)
	}
	v2 := trainInto(t, b)
	if code, out := run(t, "promote", "-store", b, "-alias", "champion", v2); code != 0 {
		t.Fatal(out)
	}
	code, out = run(t, "seed-store", "-board", b, "-store", store)
	if code != 0 {
		t.Fatalf("seed-store: %s", out)
	}
	if !strings.Contains(out, "copied version "+v2) || !strings.Contains(out, "champion already points to "+own) {
		t.Errorf("output:\n%s", out)
	}
	if got, _ := s.Alias(massmodel.Name, "champion"); got != own {
		t.Errorf("champion moved to %s; the store promoted %s", got, own)
	}
	if _, _, err := s.Load(massmodel.Name, v2); err != nil {
		t.Errorf("the board's new version was not copied: %v", err)
	}
}

// TestSeedStoreFromTheReleasedBoard seeds from deploy/models, as the
// containers do: the store's champion is the board's.
func TestSeedStoreFromTheReleasedBoard(t *testing.T) {
	released := filepath.Join("..", "..", "deploy", "models")
	want, err := massmodel.Store{Dir: released}.Alias(massmodel.Name, "champion")
	if err != nil {
		t.Fatalf("the released board has no champion: %v", err)
	}
	store := t.TempDir()
	if code, out := run(t, "seed-store", "-board", released, "-store", store); code != 0 {
		t.Fatalf("seed-store: %s", out)
	}
	if got, err := (massmodel.Store{Dir: store}).Alias(massmodel.Name, "champion"); err != nil || got != want {
		t.Fatalf("champion = %q, %v; the board's is %s", got, err, want)
	}
}

// TestSeedStoreConcurrently runs seed-store from several processes on one
// empty store at once, as the pods of a Deployment sharing a volume do:
// every one succeeds, and the store ends as one seeding leaves it.
func TestSeedStoreConcurrently(t *testing.T) {
	b, v := board(t)
	store := t.TempDir()
	var wg sync.WaitGroup
	outs := make([]string, 6)
	errs := make([]error, len(outs))
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(binary, "seed-store", "-board", b, "-store", store)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	set := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("seed-store %d: %v\n%s", i, err, outs[i])
		}
		if strings.Contains(outs[i], "set champion") {
			set++
		}
	}
	if set != 1 {
		t.Errorf("%d processes set champion, want exactly one", set)
	}
	s := massmodel.Store{Dir: store}
	if got, _ := s.Alias(massmodel.Name, "champion"); got != v {
		t.Errorf("champion = %s, want %s", got, v)
	}
	if h, _ := s.History(massmodel.Name); len(h) != 1 {
		t.Errorf("history has %d entries, want 1", len(h))
	}
}

// TestSeedStoreRefusals: bad input is a clear error and the store is left
// exactly as it was.
func TestSeedStoreRefusals(t *testing.T) {
	good, v := board(t)
	empty := t.TempDir()

	// A board whose champion points at a version it does not hold.
	dangling := t.TempDir()
	trainInto(t, dangling)
	copyFile(t, filepath.Join(good, massmodel.Name, massmodel.AliasesFile), filepath.Join(dangling, massmodel.Name, massmodel.AliasesFile))

	// A board whose only version is corrupt.
	corrupt := t.TempDir()
	cv := trainInto(t, corrupt)
	art := filepath.Join(corrupt, massmodel.Name, cv, massmodel.ArtifactFile)
	body, err := os.ReadFile(art)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(art, body[:len(body)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "store-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no board", []string{"-store", "STORE"}, 2, "-board and -store are required"},
		{"board is the store", []string{"-board", good, "-store", good}, 2, "the same directory"},
		{"stray argument", []string{"-board", good, "-store", "STORE", v}, 2, "no arguments"},
		{"empty board", []string{"-board", empty, "-store", "STORE"}, 1, "model store has no versions"},
		{"dangling alias", []string{"-board", dangling, "-store", "STORE"}, 1, "champion points to " + v + ", which the board does not hold"},
		{"corrupt board", []string{"-board", corrupt, "-store", "STORE"}, 1, cv},
		{"missing store", []string{"-board", good, "-store", filepath.Join(empty, "nowhere")}, 1, "no such file or directory"},
		{"store is a file", []string{"-board", good, "-store", file}, 1, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			// A store with a version of its own, to show it is untouched.
			trainInto(t, store)
			before := storeHash(t, store)
			args := []string{"seed-store"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "STORE", store))
			}
			code, out := run(t, args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
			if storeHash(t, store) != before {
				t.Fatal("a refused seed changed the store")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
