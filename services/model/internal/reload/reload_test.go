package reload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/api"
)

// base is the creation time of the first version each test trains; later
// versions are a second apart, so each has a distinct, newer version id.
var base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// train writes a verified version created at base+i seconds into store.
func train(t *testing.T, store string, i int) string {
	t.Helper()
	a, _, err := massmodel.TrainToStore(context.Background(), penguins.Embedded{}, store, base.Add(time.Duration(i)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return a.Version
}

// writeTampered publishes, by rename as the store does, a version whose
// model.json has a coefficient changed after its content hash was taken.
func writeTampered(t *testing.T, store string, i int) string {
	t.Helper()
	a, _, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, base.Add(time.Duration(i)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte(`"estimate": 32.`), []byte(`"estimate": 33.`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("found no coefficient to tamper with")
	}
	parent := filepath.Join(store, massmodel.Name)
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, massmodel.ArtifactFile), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(parent, a.Version)); err != nil {
		t.Fatal(err)
	}
	return a.Version
}

type fixture struct {
	store string
	srv   *api.Server
	http  *httptest.Server
	w     *Watcher
	logs  *observer.ObservedLogs // what the server and the watcher logged
}

// serve starts an API server on the newest version of a one-version store,
// with a Watcher following the newest version under opts.
func serve(t *testing.T, opts Options) *fixture {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	f := &fixture{store: t.TempDir(), logs: logs}
	first := train(t, f.store, 0)
	var err error
	f.srv, err = api.New(log, api.Limits{MaxBodyBytes: 1 << 20, MaxRows: 1000}, buildinfo.Info{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s := massmodel.Store{Dir: f.store}
	l := api.Loaded{Store: &s, From: "store:" + f.store, Data: penguins.Embedded{}}
	if l.Artifact, l.Model, err = s.Load(massmodel.Name, first); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.SetModel(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.Name, opts.Target, opts.Loaded = s, massmodel.Name, Newest(s, massmodel.Name), l
	f.w = New(log, f.srv.Registerer(), f.srv, first, opts)
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)
	return f
}

// run runs the watcher until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) metadata(t *testing.T) modelapi.Metadata {
	t.Helper()
	resp, err := http.Get(f.http.URL + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md modelapi.Metadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	return md
}

// waitServing waits until /metadata names version.
func (f *fixture) waitServing(t *testing.T, version string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := f.metadata(t).Version; got == version {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("still serving %s %s after writing %s", got, within, version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}

// TestReloadUnderConcurrentPredictions swaps versions, found by file events
// alone (polling off), while many clients predict: every answer is a 200
// named after a version that was served, and the versions change.
func TestReloadUnderConcurrentPredictions(t *testing.T) {
	f := serve(t, Options{Interval: 0})
	f.run(t)
	written := map[string]bool{f.metadata(t).Version: true}
	var mu sync.Mutex // guards written and seen
	seen := map[string]int{}

	const clients = 16
	var stop atomic.Bool
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		wg.Go(func() {
			for !stop.Load() {
				resp, err := client.Post(f.http.URL+"/predict", "application/json",
					strings.NewReader(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("predict: %v", err)
					return
				}
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				v := resp.Header.Get("X-Model-Version")
				mu.Lock()
				ok := written[v]
				seen[v]++
				mu.Unlock()
				if resp.StatusCode != http.StatusOK || !ok {
					failed.Add(1)
					t.Errorf("predict: status %d, X-Model-Version %q (not a written version): %s", resp.StatusCode, v, b.String())
					return
				}
			}
		})
	}
	const swaps = 5
	var last string
	for i := 1; i <= swaps; i++ {
		time.Sleep(50 * time.Millisecond)
		// A version is recorded as written before it can be served.
		a, _, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, base.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		written[a.Version] = true
		mu.Unlock()
		if got := train(t, f.store, i); got != a.Version {
			t.Fatalf("trained %s, then %s from the same data and time", a.Version, got)
		}
		f.waitServing(t, a.Version, 5*time.Second)
		last = a.Version
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	t.Logf("%d predictions, %d failed, %d swaps; answers by version: %v", sent.Load(), failed.Load(), swaps, seen)
	if len(seen) < 2 {
		t.Errorf("answers named %d version(s), want the version to change: %v", len(seen), seen)
	}
	if seen[last] == 0 {
		t.Errorf("no answer from the last version %s: %v", last, seen)
	}
	if n := testutil.ToFloat64(f.w.reloads); n != swaps {
		t.Errorf("model_reloads_total %v, want %d", n, swaps)
	}
	if n := testutil.ToFloat64(f.w.failures); n != 0 {
		t.Errorf("model_reload_failures_total %v, want 0", n)
	}
	// What the API says about the model follows the swap.
	if _, body := f.get(t, "/metrics"); !strings.Contains(body, `model_info{content_sha256=`) || !strings.Contains(body, `version="`+last+`"} 1`) ||
		strings.Count(body, "model_info{") != 1 {
		t.Errorf("model_info does not name only %s:\n%s", last, grep(body, "model_info"))
	}
	var d modelapi.Drift
	_, body := f.get(t, "/monitoring/drift")
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != last || !strings.Contains(d.Window.ResetReason, last) {
		t.Errorf("drift window for %s, reset because %q; want it reset for %s", d.Version, d.Window.ResetReason, last)
	}
}

func grep(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestRefusesCorruptTarget: a newest version that fails verification is
// refused, counted once, and the old model keeps serving, ready; a good
// version written after it is taken.
func TestRefusesCorruptTarget(t *testing.T) {
	f := serve(t, Options{})
	old := f.metadata(t).Version
	bad := writeTampered(t, f.store, 1)
	for range 3 { // polling again does not count the same refusal again
		if f.w.Check(context.Background()) {
			t.Fatal("swapped to a tampered version")
		}
	}
	if n := testutil.ToFloat64(f.w.failures); n != 1 {
		t.Errorf("model_reload_failures_total %v, want 1", n)
	}
	if got := f.metadata(t).Version; got != old {
		t.Errorf("serving %s after refusing %s, want %s", got, bad, old)
	}
	if code, _ := f.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after a refused reload", code)
	}
	if code, body := f.get(t, "/metrics"); code != 200 || !strings.Contains(body, "model_reload_failures_total 1") {
		t.Errorf("/metrics lacks model_reload_failures_total 1:\n%s", grep(body, "model_reload"))
	}
	refused := f.logs.FilterMessage("model reload refused; the current model keeps serving").All()
	if len(refused) != 1 || refused[0].Level != zapcore.ErrorLevel || refused[0].ContextMap()["target"] != bad ||
		refused[0].ContextMap()["serving"] != old || !strings.Contains(fmt.Sprint(refused[0].ContextMap()["error"]), "hash") {
		t.Errorf("the refusal logged as %v, want one error naming the target, the version serving and why", refused)
	}
	good := train(t, f.store, 2)
	if !f.w.Check(context.Background()) {
		t.Fatalf("did not swap to %s", good)
	}
	if got := f.metadata(t).Version; got != good {
		t.Errorf("serving %s, want %s", got, good)
	}
	if n := testutil.ToFloat64(f.w.reloads); n != 1 {
		t.Errorf("model_reloads_total %v, want 1", n)
	}
}

// TestInFlightRequestFinishesOnItsModel: a request that started before a
// swap is scored and answered by the version it started on, and says so;
// the next request gets the new version.
func TestInFlightRequestFinishesOnItsModel(t *testing.T) {
	f := serve(t, Options{})
	old := f.metadata(t).Version
	body, send := io.Pipe()
	req := httptest.NewRequest(http.MethodPost, "/predict", body)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { f.srv.Handler().ServeHTTP(rec, req); close(done) }()
	// The handler takes its model before it reads the body: once it has
	// read the first bytes (a pipe's Write returns then), it holds the old
	// version.
	if _, err := send.Write([]byte(`{"bill_length_mm": 45, `)); err != nil {
		t.Fatal(err)
	}
	next := train(t, f.store, 1)
	if !f.w.Check(context.Background()) {
		t.Fatalf("did not swap to %s", next)
	}
	if got := f.metadata(t).Version; got != next {
		t.Fatalf("serving %s after the swap, want %s", got, next)
	}
	send.Write([]byte(`"species": "Gentoo", "sex": "male"}`))
	send.Close()
	<-done
	var got modelapi.PredictResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("the request in flight: %d %s", rec.Code, rec.Body)
	}
	if got.Version != old || rec.Header().Get("X-Model-Version") != old {
		t.Errorf("the request in flight was answered by %s (header %s), want %s, the version it started on", got.Version, rec.Header().Get("X-Model-Version"), old)
	}
	resp, err := http.Post(f.http.URL+"/predict", "application/json", strings.NewReader(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("X-Model-Version"); v != next {
		t.Errorf("the next request was answered by %s, want %s", v, next)
	}
}

// TestPollingFallback: with file events off, polling alone finds a new
// version.
func TestPollingFallback(t *testing.T) {
	f := serve(t, Options{NoEvents: true, Interval: 50 * time.Millisecond})
	f.run(t)
	v := train(t, f.store, 1)
	f.waitServing(t, v, 5*time.Second)
}

// TestNoPollingNoEvents is the control for the fallback test: with both
// off, nothing is picked up, so the fallback test proves polling works.
func TestNoPollingNoEvents(t *testing.T) {
	f := serve(t, Options{NoEvents: true})
	old := f.metadata(t).Version
	f.run(t)
	train(t, f.store, 1)
	time.Sleep(300 * time.Millisecond)
	if got := f.metadata(t).Version; got != old {
		t.Errorf("serving %s with events and polling off, want %s", got, old)
	}
}
