package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// yearMetrics are the metrics pinned for the penguins' three years, as the
// model service would send them (in no particular order).
var yearMetrics = []struct {
	start                string
	n                    int
	rmse, mae, rsq, bias float64
}{
	{"2009-01-01", 117, 301.95, 240.04, 0.861, -12.46},
	{"2007-01-01", 103, 310.2, 247.18, 0.853, 20.05},
	{"2008-01-01", 113, 285.7, 229.9, 0.877, -4.96},
}

// pinnedPerformance is a /monitoring/performance body for version with
// metrics pinned for 2007, 2008 and 2009 and the training data's as the
// reference.
func pinnedPerformance(version string) *modelapi.Performance {
	p := &modelapi.Performance{Version: version,
		Reference: &modelapi.PerformanceReference{N: 333, RMSE: 296.4, MAE: 236.1, RSQ: 0.864, Bias: -1e-13}}
	for _, y := range yearMetrics {
		for _, m := range []struct {
			name string
			v    float64
		}{{modelapi.MetricRMSE, y.rmse}, {modelapi.MetricMAE, y.mae}, {modelapi.MetricRSQ, y.rsq}, {modelapi.MetricBias, y.bias}} {
			p.Metrics = append(p.Metrics, modelapi.PeriodMetric{PeriodStart: y.start, Period: "year", N: y.n, Metric: m.name, Estimate: m.v})
		}
	}
	return p
}

func TestMonitoringPerformance(t *testing.T) {
	api, art := upAPI(t)
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sec := doc.Find("[data-testid=performance]")
	if got := sec.Find("[data-testid=performance-version]").Text(); got != art.Version {
		t.Errorf("version %q", got)
	}
	if sec.Find("[data-testid=performance-notice]").Length() != 0 {
		t.Errorf("a notice with metrics pinned: %q", sec.Find("[data-testid=performance-notice]").Text())
	}
	// The drift part is still there.
	if doc.Find("[data-testid=drift-table]").Length() != 1 {
		t.Error("no drift table")
	}

	// The table: a row per year, oldest first, each number as sent to the
	// precision shown; the training data's below.
	rows := sec.Find("[data-testid=performance-table] tbody tr")
	if rows.Length() != len(yearMetrics) {
		t.Fatalf("%d rows, want %d", rows.Length(), len(yearMetrics))
	}
	cells := func(tr *goquery.Selection) string {
		return strings.Join(tr.Find("th, td").Map(func(_ int, s *goquery.Selection) string { return s.Text() }), " ")
	}
	for i, year := range []string{"2007", "2008", "2009"} {
		var want string
		for _, y := range yearMetrics {
			if strings.HasPrefix(y.start, year) {
				want = fmt.Sprintf("%s %d %.1f %.1f %.3f %.1f", year, y.n, y.rmse, y.mae, y.rsq, y.bias)
			}
		}
		if got := cells(rows.Eq(i)); got != want {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
	if got := cells(sec.Find("[data-testid=performance-reference] tr")); got != "Training data 333 296.4 236.1 0.864 0.0" {
		t.Errorf("reference row %q", got)
	}

	// A chart per metric, drawn in the page, whose description gives each
	// year's n and value and the reference line.
	for metric, want := range map[string][]string{
		"rmse": {"RMSE (g) in 3 periods: 2007 (n=103): 310.2; 2008 (n=113): 285.7; 2009 (n=117): 301.95", "training data (n=333) at 296.4"},
		"mae":  {"2007 (n=103): 247.18; 2008 (n=113): 229.9; 2009 (n=117): 240.04", "training data (n=333) at 236.1"},
		"rsq":  {"R² in 3 periods: 2007 (n=103): 0.853;", "training data (n=333) at 0.864"},
		"bias": {"2007 (n=103): 20.05; 2008 (n=113): -4.96; 2009 (n=117): -12.46", "no bias (0) at 0."},
	} {
		svg := sec.Find("[data-testid=performance-" + metric + "] [data-testid=performance-chart] > svg[role=img]")
		if svg.Length() != 1 {
			t.Errorf("%s: %d charts", metric, svg.Length())
			continue
		}
		desc := svg.Find("desc").Text()
		for _, w := range want {
			if !strings.Contains(desc, w) {
				t.Errorf("%s: chart description lacks %q: %s", metric, w, desc)
			}
		}
		if !strings.HasSuffix(svg.Find("title").Text(), " by year") {
			t.Errorf("%s: title %q", metric, svg.Find("title").Text())
		}
	}
}

func TestMonitoringNoGroundTruth(t *testing.T) {
	api, art := upAPI(t)
	api.performance = func(context.Context, string) (*modelapi.Performance, error) {
		return &modelapi.Performance{Version: art.Version, Metrics: []modelapi.PeriodMetric{}}, nil
	}
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	sec := doc.Find("[data-testid=performance]")
	if n := sec.Find("[data-testid=performance-notice]").Text(); resp.StatusCode != 200 || !strings.Contains(n, "No ground truth yet") || !strings.Contains(n, art.Version) {
		t.Errorf("status %d, notice %q", resp.StatusCode, n)
	}
	if got := sec.Find("[data-testid=performance-hint] code").Text(); got != "model-service evaluate -store D -data FILE.csv -date-column year -period year" {
		t.Errorf("hint %q", got)
	}
	if sec.Find("table, svg").Length() != 0 {
		t.Error("a table or chart with nothing pinned")
	}
	if doc.Find("[data-testid=drift-chart] svg").Length() != 4 {
		t.Error("the drift charts are missing")
	}
}

// TestMonitoringPerformanceFails: the performance call failing, or the
// model service lacking the endpoint, costs the section, not the page.
func TestMonitoringPerformanceFails(t *testing.T) {
	for name, c := range map[string]struct {
		err         error
		title, text string
	}{
		"model service error": {&modelapi.APIError{Op: "performance", Status: 500, Body: "boom"}, "Model performance unavailable", "failed to report"},
		"not answering":       {errDown, "Model performance unavailable", "not answering"},
		"older model service": {&modelapi.APIError{Op: "performance", Status: http.StatusNotFound, Body: `{"message":"Not Found"}`}, "No ground truth yet", "predates ground-truth evaluation"},
	} {
		t.Run(name, func(t *testing.T) {
			api, _ := upAPI(t)
			api.performance = func(context.Context, string) (*modelapi.Performance, error) { return nil, c.err }
			ts := newTestApp(t, api)
			resp, doc := get(t, ts, "/monitoring")
			n := doc.Find("[data-testid=performance-notice]").Text()
			if resp.StatusCode != 200 || !strings.Contains(n, c.title) || !strings.Contains(n, c.text) {
				t.Errorf("status %d, notice %q", resp.StatusCode, n)
			}
			if doc.Find("[data-testid=performance] table, [data-testid=performance] svg, [data-testid=performance-hint]").Length() != 0 {
				t.Error("a table, chart or hint without an answer")
			}
			if doc.Find("[data-testid=drift-table]").Length() != 1 || doc.Find("[data-testid=drift-chart] svg").Length() != 4 {
				t.Error("the drift part is missing")
			}
		})
	}
}

// TestMonitoringDriftFailsPerformanceShown: the other way round.
func TestMonitoringDriftFailsPerformanceShown(t *testing.T) {
	for name, err := range map[string]error{
		"not answering":       errDown,
		"model service error": &modelapi.APIError{Op: "drift", Status: 500, Body: "boom"},
	} {
		t.Run(name, func(t *testing.T) {
			api, _ := upAPI(t)
			api.drift = func(context.Context) (*modelapi.Drift, error) { return nil, err }
			ts := newTestApp(t, api)
			resp, doc := get(t, ts, "/monitoring")
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
			if n := doc.Find("[data-testid=notice]").First().Text(); !strings.Contains(n, "Prediction service unavailable") && !strings.Contains(n, "failed") {
				t.Errorf("drift notice %q", n)
			}
			if doc.Find("[data-testid=drift-table]").Length() != 0 {
				t.Error("a drift table without a report")
			}
			if doc.Find("[data-testid=performance-table] tbody tr").Length() != 3 || doc.Find("[data-testid=performance-chart] svg").Length() != 4 {
				t.Error("the performance part is missing")
			}
		})
	}
}

// TestMonitoringBothFail: neither call answering is the page's error, with
// the first failure's status.
func TestMonitoringBothFail(t *testing.T) {
	api, _ := upAPI(t)
	api.drift = func(context.Context) (*modelapi.Drift, error) {
		return nil, &modelapi.APIError{Op: "drift", Status: 500, Body: "boom"}
	}
	api.performance = func(context.Context, string) (*modelapi.Performance, error) { return nil, errDown }
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if doc.Find("[data-testid=notice]").Length() != 2 || doc.Find("table, svg").Length() != 0 {
		t.Errorf("notices %q", doc.Find("[data-testid=notice]").Text())
	}
}

// TestMonitoringBadPerformanceData: a metric the chart cannot draw costs
// that chart; the table shows what was sent, and a metric missing from a
// period is a dash.
func TestMonitoringBadPerformanceData(t *testing.T) {
	api, art := upAPI(t)
	api.performance = func(context.Context, string) (*modelapi.Performance, error) {
		p := pinnedPerformance(art.Version)
		p.Reference = nil
		p.Metrics = append(p.Metrics, modelapi.PeriodMetric{PeriodStart: "2010-01-01", Period: "year", N: -1, Metric: "rsq", Estimate: 0.5})
		return p, nil
	}
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != 200 || doc.Find("[data-testid=performance-chart] svg").Length() != 3 ||
		doc.Find("[data-testid=performance-rsq] [data-testid=performance-chart-error]").Length() != 1 {
		t.Errorf("status %d, %d charts", resp.StatusCode, doc.Find("[data-testid=performance-chart] svg").Length())
	}
	last := doc.Find("[data-testid=performance-table] tbody tr").Last()
	if got := last.Find("th, td").Map(func(_ int, s *goquery.Selection) string { return s.Text() }); strings.Join(got, " ") != "2010 -1 – – 0.500 –" {
		t.Errorf("last row %q", got)
	}
	if doc.Find("[data-testid=performance-reference]").Length() != 0 {
		t.Error("a training row without a reference")
	}
	// Without the training data's metrics, only bias keeps its line.
	if got := doc.Find("[data-testid=performance-rmse] desc").Text(); strings.Contains(got, "dashed") {
		t.Errorf("rmse chart has a reference line: %s", got)
	}
	if got := doc.Find("[data-testid=performance-bias] desc").Text(); !strings.Contains(got, "no bias (0) at 0.") {
		t.Errorf("bias chart lacks its zero line: %s", got)
	}
}

func TestPeriodLabel(t *testing.T) {
	for _, c := range [][3]string{
		{"2007-01-01", "year", "2007"},
		{"2007-04-01", "quarter", "2007 Q2"},
		{"2007-10-01", "quarter", "2007 Q4"},
		{"2007-11-01", "month", "2007-11"},
		{"2007-11-05", "week", "2007-11-05"},
		{"2007-11-06", "day", "2007-11-06"},
		{"last year", "year", "last year"},
	} {
		if got := periodLabel(c[0], c[1]); got != c[2] {
			t.Errorf("periodLabel(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestMonitoringCountsThePerformanceCall runs the real client against a
// model API that predates the endpoint: the page says there is no ground
// truth yet, and the frontend's metrics count the call.
func TestMonitoringCountsThePerformanceCall(t *testing.T) {
	report := driftReport("v1", 250)
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/monitoring/drift" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"Not Found"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(report)
	}))
	defer model.Close()
	calls := NewCallLog(10)
	client, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: model.URL, OnCall: calls.Observe})
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(zaptest.NewLogger(t), client, calls, Options{Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	resp, doc := get(t, ts, "/monitoring")
	if n := doc.Find("[data-testid=performance-notice]").Text(); resp.StatusCode != 200 || !strings.Contains(n, "No ground truth yet") {
		t.Errorf("status %d, notice %q", resp.StatusCode, n)
	}
	mresp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	metrics, _ := io.ReadAll(mresp.Body)
	for _, m := range []string{`model_api_calls_total{op="performance",outcome="error"} 1`, `model_api_calls_total{op="drift",outcome="ok"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
