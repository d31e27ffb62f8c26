package main

import (
	"errors"
	"os/exec"
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
