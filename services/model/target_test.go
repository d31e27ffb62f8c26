package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
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
	mustRun(t, "promote", "-store", store, "-alias", "champion", "-reason", "first", v1)

	p := start(t, "MODEL_STORE="+store, "MODEL_ALIAS=champion", "MODEL_RELOAD_INTERVAL=0")
	p.waitReady(t)
	if got := p.servedVersion(t); got != v1 {
		t.Fatalf("serving %s, want the champion %s", got, v1)
	}
	l := startLoad(t, p.url("/predict"), 8)
	time.Sleep(300 * time.Millisecond)
	mustRun(t, "promote", "-store", store, "-alias", "champion", "-reason", "better", v2)
	p.waitServing(t, v2)
	time.Sleep(300 * time.Millisecond)
	mustRun(t, "rollback", "-store", store, "-alias", "champion", "-reason", "worse in production")
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
	mustRun(t, "promote", "-store", store, "-alias", "champion", "-reason", "first", v1)
	p := start(t, "MODEL_STORE="+store, "MODEL_ALIAS=champion", "MODEL_RELOAD_INTERVAL=100ms")
	p.waitReady(t)
	file := filepath.Join(store, massmodel.Name, massmodel.AliasesFile)
	whole, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, file, whole[:len(whole)/2])
	p.waitLog(t, "model reload refused; the current model keeps serving", 1)
	time.Sleep(300 * time.Millisecond) // polls that must not log or count it again
	if got := p.servedVersion(t); got != v1 {
		t.Errorf("serving %s with the alias file damaged, want %s", got, v1)
	}
	if resp, err := http.Get(p.url("/readyz")); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the alias file damaged: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := p.metric(t, "model_reload_failures_total"); n != 1 {
		t.Errorf("model_reload_failures_total %v, want the refusal counted once", n)
	}
	replaceFile(t, file, whole)
	v2 := trainInto(t, store)
	mustRun(t, "promote", "-store", store, "-alias", "champion", "-reason", "after the repair", v2)
	p.waitServing(t, v2)
	p.stop(t)
}

// replaceFile puts data at path in one step, written beside it and renamed
// over it, as the store writes: a watcher sees the old file or the new one,
// never an empty one between.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}
