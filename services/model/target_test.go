package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// TestTargetFollowsTheAlias: with MODEL_ALIAS the target is the alias's
// version in the store; without it, the newest version.
func TestTargetFollowsTheAlias(t *testing.T) {
	store := t.TempDir()
	first := trainInto(t, store)
	newest := trainInto(t, store)
	s := massmodel.Store{Dir: store}
	if v, err := (Config{Store: store}).target(s)(); err != nil || v != newest {
		t.Errorf("newest target %q, %v; want %s", v, err, newest)
	}
	if _, err := (Config{Store: store, Alias: "champion"}).target(s)(); !errors.Is(err, massmodel.ErrUnknownAlias) {
		t.Errorf("alias target before promotion: %v", err)
	}
	if _, err := s.Promote(massmodel.Name, "champion", first, massmodel.PromoteOptions{Actor: "test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if v, err := (Config{Store: store, Alias: "champion"}).target(s)(); err != nil || v != first {
		t.Errorf("alias target %q, %v; want %s", v, err, first)
	}
}

// TestPromotionAndRollbackUnderLoad runs the binary with MODEL_ALIAS under
// load, promotes a new version and rolls it back with the CLI: the
// service follows both with no error status and no dropped connection.
func TestPromotionAndRollbackUnderLoad(t *testing.T) {
	store := t.TempDir()
	v1 := trainInto(t, store)
	v2 := trainInto(t, store)
	cli := func(args ...string) {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	cli("promote", "-store", store, "-alias", "champion", "-reason", "first", v1)

	p := start(t, "MODEL_STORE="+store, "MODEL_ALIAS=champion", "MODEL_RELOAD_INTERVAL=0")
	p.waitReady(t)
	if got := p.servedVersion(t); got != v1 {
		t.Fatalf("serving %s, want the champion %s", got, v1)
	}
	l := startLoad(t, p.url("/predict"), 8)
	time.Sleep(300 * time.Millisecond)
	cli("promote", "-store", store, "-alias", "champion", "-reason", "better", v2)
	p.waitServing(t, v2)
	time.Sleep(300 * time.Millisecond)
	cli("rollback", "-store", store, "-alias", "champion", "-reason", "worse in production")
	p.waitServing(t, v1)
	time.Sleep(300 * time.Millisecond)
	l.finish()

	t.Logf("%d requests, %d error statuses, %d dropped, %d connections opened, %d closed by the server; answers by version %v",
		l.sent.Load(), l.errors.Load(), l.dropped.Load(), l.dials.Load(), l.serverClosed.Load(), l.versions)
	if l.errors.Load() != 0 || l.dropped.Load() != 0 || l.serverClosed.Load() != 0 {
		t.Errorf("%d error statuses, %d dropped, %d connections closed by the server", l.errors.Load(), l.dropped.Load(), l.serverClosed.Load())
	}
	if l.versions[v1] == 0 || l.versions[v2] == 0 || len(l.versions) != 2 {
		t.Errorf("answers by version %v; want both %s and %s", l.versions, v1, v2)
	}
	p.stop(t)
}

// TestCorruptAliasFileWhileServing: the alias file the service follows is
// damaged under it. The service keeps serving its version, stays ready,
// logs and counts the refusal once, and follows the alias again once the
// file is whole.
func TestCorruptAliasFileWhileServing(t *testing.T) {
	store := t.TempDir()
	v1 := trainInto(t, store)
	promote := exec.Command(binary, "promote", "-store", store, "-alias", "champion", "-reason", "first", v1)
	promote.Env = cleanEnv()
	if out, err := promote.CombinedOutput(); err != nil {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	p := start(t, "MODEL_STORE="+store, "MODEL_ALIAS=champion", "MODEL_RELOAD_INTERVAL=100ms")
	p.waitReady(t)
	file := filepath.Join(store, massmodel.Name, massmodel.AliasesFile)
	whole, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Damaged in one step (written beside it and renamed over it), so
	// the service sees one damaged file, not also an empty one.
	if err := os.WriteFile(file+".damaged", whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".damaged", file); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "model reload refused; the current model keeps serving", 1)
	time.Sleep(300 * time.Millisecond) // polls that must not log or count it again
	if got := p.servedVersion(t); got != v1 {
		t.Errorf("serving %s with the alias file damaged, want %s", got, v1)
	}
	if resp, err := http.Get(p.url("/readyz")); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the alias file damaged: %v %v", resp, err)
	}
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "model_reload_failures_total 1\n") {
		t.Errorf("the refusal is not counted once:\n%s", grep(string(metrics), "reload"))
	}
	if err := os.WriteFile(file+".whole", whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".whole", file); err != nil {
		t.Fatal(err)
	}
	v2 := trainInto(t, store)
	promote = exec.Command(binary, "promote", "-store", store, "-alias", "champion", "-reason", "after the repair", v2)
	promote.Env = cleanEnv()
	if out, err := promote.CombinedOutput(); err != nil {
		t.Fatalf("promote after the repair: %v\n%s", err, out)
	}
	p.waitServing(t, v2)
	p.stop(t)
}
