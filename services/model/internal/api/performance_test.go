package api

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// storeFixture serves the newer of two versions trained into a store, as
// main.go does with MODEL_STORE.
type storeFixture struct {
	*fixture
	store massmodel.Store
	older string // the version not served
}

func newStoreFixture(t *testing.T, ck *checker) *storeFixture {
	t.Helper()
	st := massmodel.Store{Dir: t.TempDir()}
	for _, at := range []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)} {
		if _, _, err := massmodel.TrainToStore(context.Background(), penguins.Embedded{}, st.Dir, at); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := st.Versions(massmodel.Name)
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions %v, %v", vs, err)
	}
	srv := newUnloadedServer(t)
	a, m, err := st.Load(massmodel.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "store:" + st.Dir, Store: &st}); err != nil {
		t.Fatal(err)
	}
	return &storeFixture{fixture: &fixture{srv: srv, ts: ck.server(srv.Handler()), model: m, art: a}, store: st, older: vs[0]}
}

// pinByYear evaluates the served version on the embedded data by year and
// pins the metrics.
func (f *storeFixture) pinByYear(t *testing.T) []massmodel.PeriodMetric {
	t.Helper()
	ev, err := massmodel.Evaluate(bytes.NewReader(penguins.EmbeddedCSV()), f.art, f.model,
		massmodel.EvaluateOptions{DateColumn: "year", Period: "year"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := f.store.PinMetrics(massmodel.Name, f.art.Version, ev.Metrics, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func (f *fixture) performance(t *testing.T, query string) modelapi.Performance {
	t.Helper()
	resp, b := f.do(t, http.MethodGet, "/monitoring/performance"+query, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/monitoring/performance%s: %d %s", query, resp.StatusCode, b)
	}
	return decodeJSON[modelapi.Performance](t, b)
}

var gaugeLine = regexp.MustCompile(`(?m)^(model_performance[a-z_]*|model_training_rmse)(?:\{metric="([a-z]+)"\})? (\S+)$`)

// performanceGauges reads the performance gauges from /metrics, keyed by
// name, or name{metric}.
func (f *fixture) performanceGauges(t *testing.T) map[string]float64 {
	t.Helper()
	_, b := f.do(t, http.MethodGet, "/metrics", "", "")
	out := map[string]float64{}
	for _, m := range gaugeLine.FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		key := m[1]
		if m[2] != "" {
			key += "{" + m[2] + "}"
		}
		out[key] = v
	}
	return out
}

func TestPerformanceFromTheStore(t *testing.T) {
	f := newStoreFixture(t, newChecker(t))

	p := f.performance(t, "")
	if p.Version != f.art.Version || len(p.Metrics) != 0 || p.Metrics == nil {
		t.Errorf("nothing pinned: %+v", p)
	}
	ref := p.Reference
	if ref == nil || ref.N != 333 || math.Abs(ref.RMSE-f.art.Metrics.RMSE) > 1e-9 || math.Abs(ref.RSQ-f.art.Metrics.R2) > 1e-9 {
		t.Fatalf("reference %+v against the fit %+v", ref, f.art.Metrics)
	}
	g := f.performanceGauges(t)
	if g["model_training_rmse"] != ref.RMSE || len(g) != 1 {
		t.Errorf("gauges with nothing pinned: %v", g)
	}

	pinned := f.pinByYear(t)
	p = f.performance(t, "")
	if len(p.Metrics) != 12 {
		t.Fatalf("%d metrics served, 12 pinned", len(p.Metrics))
	}
	for i, m := range p.Metrics {
		w := pinned[i]
		if m.PeriodStart != w.PeriodStart || m.Period != w.Period || m.N != w.N || m.Metric != w.Metric || m.Estimate != w.Estimate {
			t.Errorf("metric %d: served %+v, pinned %+v", i, m, w)
		}
	}
	g = f.performanceGauges(t)
	latest := map[string]float64{}
	for _, m := range pinned {
		if m.PeriodStart == "2009-01-01" {
			latest[m.Metric] = m.Estimate
		}
	}
	for _, metric := range []string{"rmse", "mae", "rsq", "bias"} {
		if got, ok := g["model_performance{"+metric+"}"]; !ok || got != latest[metric] {
			t.Errorf("model_performance{metric=%q} = %v (present %v), want 2009's %v", metric, got, ok, latest[metric])
		}
	}
	if g["model_performance_period_start_timestamp_seconds"] != float64(time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) ||
		g["model_performance_period_records"] != 117 {
		t.Errorf("gauges %v", g)
	}

	other := f.performance(t, "?version="+f.older)
	if other.Version != f.older || len(other.Metrics) != 0 || other.Reference == nil || other.Reference.N != 333 {
		t.Errorf("other version: %+v", other)
	}
	for q, want := range map[string]int{
		"?version=latest":                        http.StatusBadRequest,
		"?version=20990101T000000Z-0123456789ab": http.StatusNotFound,
	} {
		if resp, b := f.do(t, http.MethodGet, "/monitoring/performance"+q, "", ""); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", q, resp.StatusCode, b, want)
		}
	}

	// A tampered file is refused: a 500, and no gauges from it.
	path := filepath.Join(f.store.Dir, massmodel.Name, f.art.Version, massmodel.MetricsFile)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(body, []byte(`"n": 117`), []byte(`"n": 118`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp, b := f.do(t, http.MethodGet, "/monitoring/performance", "", ""); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("tampered metrics: %d %s", resp.StatusCode, b)
	}
	if g := f.performanceGauges(t); len(g) != 1 {
		t.Errorf("gauges from a tampered file: %v", g)
	}
}

func TestPerformanceWithoutAStore(t *testing.T) {
	f := newFixture(t, testLimits)
	p := f.performance(t, "")
	if p.Version != f.art.Version || len(p.Metrics) != 0 || p.Reference == nil {
		t.Errorf("%+v", p)
	}
	if p2 := f.performance(t, "?version="+f.art.Version); p2.Version != f.art.Version {
		t.Errorf("the served version by name: %+v", p2)
	}
	if resp, _ := f.do(t, http.MethodGet, "/monitoring/performance?version=20990101T000000Z-0123456789ab", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another version without a store: %d", resp.StatusCode)
	}
	if g := f.performanceGauges(t); len(g) != 1 || g["model_training_rmse"] == 0 {
		t.Errorf("gauges without a store: %v", g)
	}
}

// corruptStoreServer serves from a store whose pinned metrics were edited.
func corruptStoreServer(t *testing.T, ck *checker) *httptest.Server {
	t.Helper()
	f := newStoreFixture(t, ck)
	f.pinByYear(t)
	path := filepath.Join(f.store.Dir, massmodel.Name, f.art.Version, massmodel.MetricsFile)
	if err := os.WriteFile(path, []byte(`{"name": "penguin_model"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return f.ts
}
