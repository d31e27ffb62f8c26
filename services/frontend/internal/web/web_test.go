package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// fakeAPI is a ModelAPI made of function fields, so each test says what the
// model service does.
type fakeAPI struct {
	predict     func(ctx context.Context, recs []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error)
	metadata    func(ctx context.Context) (*modelapi.Metadata, error)
	diagnostics func(ctx context.Context) (*modelapi.Diagnostics, error)
	ready       func(ctx context.Context) (*modelapi.Health, error)
	drift       func(ctx context.Context) (*modelapi.Drift, error)
	performance func(ctx context.Context, version string) (*modelapi.Performance, error)
	aliases     func(ctx context.Context) (*modelapi.Aliases, error)
	shadow      func(ctx context.Context) (*modelapi.Shadow, error) // nil: a model service older than the route (404)
	calls       atomic.Int64
}

func (f *fakeAPI) Predict(ctx context.Context, recs []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
	f.calls.Add(1)
	return f.predict(ctx, recs, opts)
}
func (f *fakeAPI) Metadata(ctx context.Context) (*modelapi.Metadata, error) {
	f.calls.Add(1)
	return f.metadata(ctx)
}
func (f *fakeAPI) Diagnostics(ctx context.Context) (*modelapi.Diagnostics, error) {
	f.calls.Add(1)
	return f.diagnostics(ctx)
}
func (f *fakeAPI) Ready(ctx context.Context) (*modelapi.Health, error) {
	f.calls.Add(1)
	return f.ready(ctx)
}
func (f *fakeAPI) Drift(ctx context.Context) (*modelapi.Drift, error) {
	f.calls.Add(1)
	return f.drift(ctx)
}
func (f *fakeAPI) Performance(ctx context.Context, version string) (*modelapi.Performance, error) {
	f.calls.Add(1)
	return f.performance(ctx, version)
}

func (f *fakeAPI) Aliases(ctx context.Context) (*modelapi.Aliases, error) {
	f.calls.Add(1)
	return f.aliases(ctx)
}

func (f *fakeAPI) Shadow(ctx context.Context) (*modelapi.Shadow, error) {
	f.calls.Add(1)
	if f.shadow == nil {
		return nil, &modelapi.APIError{Op: "shadow", Status: http.StatusNotFound, Body: `{"message":"Not Found"}`}
	}
	return f.shadow(ctx)
}

var errDown = &modelapi.APIError{Op: "test", Status: http.StatusServiceUnavailable, Body: "down"}

// upAPI answers like a model service serving the model trained from the
// embedded data.
func upAPI(t testing.TB) (*fakeAPI, *massmodel.Artifact) {
	t.Helper()
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	md := wireMetadata(t, a)
	diag := wireDiagnostics(t, a, m)
	return &fakeAPI{
		predict: func(_ context.Context, recs []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
			resp := &modelapi.PredictResponse{Model: a.Name, Version: a.Version}
			if opts.Interval {
				resp.Interval = &modelapi.Interval{Level: 0.95}
			}
			for i, r := range recs {
				sp, _ := penguins.ParseSpecies(r.Species)
				sex, _ := penguins.ParseSex(r.Sex)
				in := massmodel.Input{BillLengthMM: r.BillLengthMM, Species: sp, Sex: sex}
				fit, lo, hi, h := m.IntervalLeverage(in)
				resp.Predict = append(resp.Predict, fit)
				if opts.Interval {
					resp.Interval.Lower = append(resp.Interval.Lower, lo)
					resp.Interval.Upper = append(resp.Interval.Upper, hi)
				}
				if e := m.Extrapolation(in, h); e != 0 {
					resp.ExtrapolatedRows = append(resp.ExtrapolatedRows, i)
					if len(resp.Warnings) == 100 { // as the model service caps them
						resp.WarningsTruncated = true
						continue
					}
					resp.Warnings = append(resp.Warnings, modelapi.Warning{Row: i, Pointer: fmt.Sprintf("/%d/bill_length_mm", i),
						Reasons: strings.Split(e.String(), "+"), Message: m.ExtrapolationMessage(in, e, h)})
				}
			}
			return resp, nil
		},
		metadata:    func(context.Context) (*modelapi.Metadata, error) { return md, nil },
		diagnostics: func(context.Context) (*modelapi.Diagnostics, error) { return diag, nil },
		ready: func(context.Context) (*modelapi.Health, error) {
			return &modelapi.Health{Status: "ready", Version: a.Version}, nil
		},
		drift: func(context.Context) (*modelapi.Drift, error) { return driftReport(a.Version, 250), nil },
		performance: func(_ context.Context, version string) (*modelapi.Performance, error) {
			if version != "" {
				return nil, &modelapi.APIError{Op: "performance", Status: http.StatusNotFound, Body: "only the served version"}
			}
			return pinnedPerformance(a.Version), nil
		},
		aliases: func(context.Context) (*modelapi.Aliases, error) { return promoted(a.Version), nil },
		shadow:  func(context.Context) (*modelapi.Shadow, error) { return shadowReport(a.Version), nil },
	}, a
}

// wireMetadata is the /metadata body for a, decoded from the artifact's
// own JSON as a client would decode the model service's answer.
func wireMetadata(t testing.TB, a *massmodel.Artifact) *modelapi.Metadata {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var md modelapi.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	return &md
}

// wireDiagnostics is the /diagnostics body for a, with m's fitted values.
func wireDiagnostics(t testing.TB, a *massmodel.Artifact, m *massmodel.Model) *modelapi.Diagnostics {
	t.Helper()
	d, err := massmodel.Diagnose(context.Background(), a, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &modelapi.Diagnostics{Model: a.Name, Version: a.Version, Available: true, Source: modelapi.DiagnosticsFromArtifact}
	for _, r := range d.Rows {
		out.Rows = append(out.Rows, modelapi.DiagnosticRow{
			BillLengthMM: r.BillLengthMM, Species: r.Species, Sex: r.Sex, BodyMassG: r.BodyMassG, Fitted: r.Fitted, Residual: r.Residual,
		})
	}
	return out
}

func downAPI() *fakeAPI {
	return &fakeAPI{
		predict: func(context.Context, []modelapi.Record, modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
			return nil, errDown
		},
		metadata:    func(context.Context) (*modelapi.Metadata, error) { return nil, errDown },
		diagnostics: func(context.Context) (*modelapi.Diagnostics, error) { return nil, errDown },
		ready:       func(context.Context) (*modelapi.Health, error) { return nil, errDown },
		drift:       func(context.Context) (*modelapi.Drift, error) { return nil, errDown },
		performance: func(context.Context, string) (*modelapi.Performance, error) { return nil, errDown },
		aliases:     func(context.Context) (*modelapi.Aliases, error) { return nil, errDown },
		shadow:      func(context.Context) (*modelapi.Shadow, error) { return nil, errDown },
	}
}

func newTestApp(t testing.TB, api ModelAPI) *httptest.Server {
	t.Helper()
	app, err := New(zaptest.NewLogger(t), api, nil, Options{ModelURL: "http://model.test", Build: buildinfo.Info{Version: "test", GoVersion: "go1.26"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, path string, hdr ...string) (*http.Response, *goquery.Document) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, doc
}

// TestExploreTableMatchesIndependentComputation recomputes every cell of the
// summary table from the raw CSV text with a plain two-pass mean and sd.
func TestExploreTableMatchesIndependentComputation(t *testing.T) {
	api, _ := upAPI(t)
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/explore")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := strings.Split(strings.TrimSpace(string(penguins.EmbeddedCSV())), "\n")[1:]
	rows := doc.Find("[data-testid=summary-table] tbody tr")
	if rows.Length() != 8 {
		t.Fatalf("%d table rows, want 8", rows.Length())
	}
	rows.Each(func(_ int, tr *goquery.Selection) {
		species, sex := tr.AttrOr("data-species", ""), tr.AttrOr("data-sex", "")
		if n := tr.Find("td.num").Length(); n != len(penguins.Measures) {
			t.Fatalf("%s %s: %d measurement cells, want %d", species, sex, n, len(penguins.Measures))
		}
		tr.Find("td.num").Each(func(col int, td *goquery.Selection) {
			var xs []float64
			for _, l := range lines {
				f := strings.Split(l, ",")
				if f[0] == species && f[6] == sex && f[2+col] != "NA" {
					x, err := strconv.ParseFloat(f[2+col], 64)
					if err != nil {
						t.Fatal(err)
					}
					xs = append(xs, x)
				}
			}
			var sum, ss float64
			for _, x := range xs {
				sum += x
			}
			mean := sum / float64(len(xs))
			for _, x := range xs {
				ss += (x - mean) * (x - mean)
			}
			wantSD := "NA"
			if len(xs) > 1 {
				wantSD = fmt.Sprintf("%.2f", math.Sqrt(ss/float64(len(xs)-1)))
			}
			got := [3]string{td.Find(".mean").Text(), td.Find(".sd").Text(), td.Find(".n").Text()}
			want := [3]string{fmt.Sprintf("%.2f", mean), wantSD, fmt.Sprintf("(%d)", len(xs))}
			if got != want {
				t.Errorf("%s %s column %d: %v, want %v", species, sex, col, got, want)
			}
		})
	})
	if got := doc.Find("[data-testid=dropped-summary]").Text(); !strings.Contains(got, "11 of 344 rows") {
		t.Errorf("dropped summary %q", got)
	}
	if got := doc.Find("[data-testid=dropped-list]").Text(); !strings.Contains(got, "9 rows: missing sex") || !strings.Contains(got, "2 rows: missing bill_length_mm, body_mass_g, sex") {
		t.Errorf("dropped list %q", got)
	}
	for _, id := range []string{"scatter", "distribution"} {
		src := doc.Find("[data-testid="+id+"]").AttrOr("src", "")
		r, err := ts.Client().Get(ts.URL + src)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(b), "<svg") {
			t.Errorf("%s chart %s: %d %s", id, src, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
}

func TestModelPageShowsServedCoefficients(t *testing.T) {
	api, art := upAPI(t)
	// Serve coefficients that differ from a fresh fit, to prove the page
	// shows what the API serves rather than a second copy of the model.
	served := wireMetadata(t, art)
	served.Coefficients[1].Estimate = 31.4159
	served.Version = "20990101T000000Z-abcdefabcdef"
	diag, _ := api.diagnostics(context.Background())
	diag.Version = served.Version
	api.metadata = func(context.Context) (*modelapi.Metadata, error) { return served, nil }
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/model")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, c := range served.Coefficients {
		row := doc.Find(fmt.Sprintf("[data-testid=coef-table] tr[data-term=%q]", c.Term))
		if got, want := row.Find(".estimate").Text(), fmt.Sprintf("%.2f", c.Estimate); got != want {
			t.Errorf("%s estimate %q, want %q", c.Term, got, want)
		}
	}
	if got := doc.Find("[data-testid=model-version]").Text(); got != served.Version {
		t.Errorf("version %q", got)
	}
	if got := doc.Find("[data-testid=data-sha256]").Text(); got != served.Data.SHA256 {
		t.Errorf("data hash %q", got)
	}
	if got := doc.Find("[data-testid=r2]").Text(); got != fmt.Sprintf("%.4f", served.Metrics.R2) {
		t.Errorf("R² %q", got)
	}
	src := doc.Find("[data-testid=residuals]").AttrOr("src", "")
	if !strings.Contains(src, served.Version) {
		t.Errorf("residuals chart %q is not keyed by the served version", src)
	}
	r, err := ts.Client().Get(ts.URL + src)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("residuals chart: %d", r.StatusCode)
	}
}

// chartText fetches a chart and returns its SVG.
func chartText(t *testing.T, ts *httptest.Server, src string) (int, string) {
	t.Helper()
	r, err := ts.Client().Get(ts.URL + src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// TestModelDiagnosticsComeFromTheModelService: the plots show the rows the
// model service sends, whatever data the model was trained on (here, a
// database the frontend has never seen), and are drawn once per version.
func TestModelDiagnosticsComeFromTheModelService(t *testing.T) {
	api, art := upAPI(t)
	md := wireMetadata(t, art)
	md.Data.SHA256 = strings.Repeat("0", 64)
	md.Data.Source = "postgres://db.example:5432/penguins/penguins"
	api.metadata = func(context.Context) (*modelapi.Metadata, error) { return md, nil }
	var diagCalls atomic.Int64
	api.diagnostics = func(context.Context) (*modelapi.Diagnostics, error) {
		diagCalls.Add(1)
		return &modelapi.Diagnostics{Model: md.Name, Version: md.Version, Available: true, Source: "artifact", Rows: []modelapi.DiagnosticRow{
			{BillLengthMM: 39.1, Species: "Adelie", Sex: "male", BodyMassG: 3750, Fitted: 3988.8, Residual: -238.8},
			{BillLengthMM: 39.5, Species: "Adelie", Sex: "female", BodyMassG: 3800, Fitted: 3454.5, Residual: 345.5},
			{BillLengthMM: 46.5, Species: "Chinstrap", Sex: "female", BodyMassG: 3500, Fitted: 3382.6, Residual: 117.4},
			{BillLengthMM: 46.1, Species: "Gentoo", Sex: "female", BodyMassG: 4500, Fitted: 4763.2, Residual: -263.2},
		}}, nil
	}
	ts := newTestApp(t, api)
	for range 2 {
		resp, doc := get(t, ts, "/model")
		if resp.StatusCode != 200 || doc.Find("[data-testid=no-diagnostics]").Length() != 0 {
			t.Fatalf("status %d, note %q", resp.StatusCode, doc.Find("[data-testid=no-diagnostics]").Text())
		}
		for id, want := range map[string]string{
			"residuals":          "for 4 observations in 3 groups: Adelie (n=2), Chinstrap (n=1), Gentoo (n=1)",
			"predicted-observed": "for 4 observations in 3 groups",
		} {
			status, svg := chartText(t, ts, doc.Find("[data-testid="+id+"]").AttrOr("src", ""))
			if status != 200 || !strings.Contains(svg, want) {
				t.Errorf("%s chart: %d, lacks %q", id, status, want)
			}
		}
	}
	if n := diagCalls.Load(); n != 1 {
		t.Errorf("%d diagnostics calls for one version, want 1", n)
	}
	// A link to another version's charts finds nothing.
	if status, _ := chartText(t, ts, "/charts/model/20200101T000000Z-000000000000/residuals.svg"); status != 404 {
		t.Errorf("another version's chart: %d, want 404", status)
	}
}

// TestModelDiagnosticsUnavailable: when the model service has no
// diagnostics, the page shows its reason and the rest of the model.
func TestModelDiagnosticsUnavailable(t *testing.T) {
	api, art := upAPI(t)
	reason := "the artifact predates stored training rows, and it was trained on file:/data/other.csv"
	api.diagnostics = func(context.Context) (*modelapi.Diagnostics, error) {
		return &modelapi.Diagnostics{Model: art.Name, Version: art.Version, Reason: reason, Rows: []modelapi.DiagnosticRow{}}, nil
	}
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/model")
	if resp.StatusCode != 200 || doc.Find("[data-testid=residuals]").Length() != 0 ||
		!strings.Contains(doc.Find("[data-testid=no-diagnostics]").Text(), reason) {
		t.Errorf("status %d, note %q", resp.StatusCode, doc.Find("[data-testid=no-diagnostics]").Text())
	}
	if doc.Find("[data-testid=coef-table] tbody tr").Length() != 5 {
		t.Error("the coefficients are not shown")
	}
	if status, _ := chartText(t, ts, "/charts/model/"+art.Version+"/residuals.svg"); status != 404 {
		t.Errorf("chart of a version without diagnostics: %d, want 404", status)
	}
}

// TestModelDiagnosticsCallFails: a failed diagnostics call leaves the rest
// of the page intact, says so, and is not remembered.
func TestModelDiagnosticsCallFails(t *testing.T) {
	api, _ := upAPI(t)
	working := api.diagnostics
	api.diagnostics = func(context.Context) (*modelapi.Diagnostics, error) { return nil, errDown }
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/model")
	if resp.StatusCode != 200 || doc.Find("[data-testid=coef-table] tbody tr").Length() != 5 ||
		!strings.Contains(doc.Find("[data-testid=no-diagnostics]").Text(), "did not send") {
		t.Errorf("status %d, note %q", resp.StatusCode, doc.Find("[data-testid=no-diagnostics]").Text())
	}
	api.diagnostics = working
	if _, doc := get(t, ts, "/model"); doc.Find("[data-testid=residuals]").Length() != 1 {
		t.Error("the charts did not come back with the model service")
	}
}

func TestDiagnosticSeries(t *testing.T) {
	rows := []modelapi.DiagnosticRow{
		{Species: "Gentoo", Fitted: 1, Residual: 2, BodyMassG: 3},
		{Species: "Emperor", Fitted: 4, Residual: 5, BodyMassG: 9},
		{Species: "Adelie", Fitted: 6, Residual: 7, BodyMassG: 13},
		{Species: "Gentoo", Fitted: 8, Residual: -1, BodyMassG: 7},
	}
	resid, predObs := diagnosticSeries(rows)
	var got []string
	for i, s := range resid {
		got = append(got, fmt.Sprintf("%s %v %v", s.Name, s.Points, predObs[i].Points))
	}
	want := []string{"Adelie [{6 7}] [{6 13}]", "Gentoo [{1 2} {8 -1}] [{1 3} {8 7}]", "Emperor [{4 5}] [{4 9}]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

func TestPredictPage(t *testing.T) {
	api, art := upAPI(t)
	ts := newTestApp(t, api)

	// The empty form has the book's defaults and labels on every control.
	resp, doc := get(t, ts, "/predict")
	if resp.StatusCode != 200 || doc.Find("#bill_length_mm").AttrOr("value", "") != "45.0" ||
		doc.Find("#bill-range").AttrOr("min", "") != "30" || doc.Find("#bill-range").AttrOr("step", "") != "0.1" {
		t.Errorf("empty form: %d", resp.StatusCode)
	}
	if doc.Find("[data-testid=no-result]").Length() != 1 {
		t.Error("empty form shows a result")
	}

	// A prediction, as a shareable GET link using the API's own names.
	resp, doc = get(t, ts, "/predict?bill_length_mm=45&species=Gentoo&sex=male")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want, _ := api.predict(context.Background(), []modelapi.Record{{BillLengthMM: 45, Species: "Gentoo", Sex: "male"}}, modelapi.PredictOptions{Interval: true})
	if got := doc.Find("[data-testid=mass]").Text(); got != fmtGrams(want.Predict[0]) {
		t.Errorf("mass %q, want %q", got, fmtGrams(want.Predict[0]))
	}
	if got := doc.Find("[data-testid=interval]").Text(); !strings.Contains(got, fmtGrams(want.Interval.Lower[0])+" – "+fmtGrams(want.Interval.Upper[0])) {
		t.Errorf("interval %q", got)
	}
	if got := doc.Find("[data-testid=sent]").Text(); !strings.Contains(got, `"bill_length_mm": 45`) || !strings.Contains(got, `"species": "Gentoo"`) {
		t.Errorf("sent %q", got)
	}
	if doc.Find("#species option[selected]").AttrOr("value", "") != "Gentoo" || doc.Find("#sex option[selected]").AttrOr("value", "") != "male" {
		t.Error("the form does not echo the query")
	}
	if got := doc.Find("[data-testid=result-version]").Text(); got != art.Version {
		t.Errorf("version %q", got)
	}
	chart := doc.Find("[data-testid=curve]")
	r, err := ts.Client().Get(ts.URL + chart.AttrOr("src", ""))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" || chart.AttrOr("alt", "") == "" {
		t.Errorf("curve chart: %d", r.StatusCode)
	}

	// Outside the training range: predicted, with a warning.
	_, doc = get(t, ts, "/predict?bill_length_mm=30.5&species=Adelie&sex=female")
	if doc.Find("[data-testid=mass]").Length() != 1 || !strings.Contains(doc.Find("[data-testid=notice]").Text(), "Outside the training data") {
		t.Errorf("no warning for 30.5 mm: %s", doc.Find("#result").Text())
	}

	// Inside the pooled range but far outside the Adelie data: the warning
	// says so, and the chart shades the Adelie range and dashes the curve
	// beyond it.
	_, doc = get(t, ts, "/predict?bill_length_mm=55&species=Adelie&sex=male")
	if n := doc.Find("[data-testid=notice]").Text(); !strings.Contains(n, "Outside the training data") ||
		!strings.Contains(n, "bill_length_mm 55 is outside the Adelie training range [32.1, 46]; leverage") {
		t.Errorf("55 mm Adelie: notice %q", n)
	}
	for query, want := range map[string][]string{
		"bill_length_mm=55&species=Adelie&sex=male": {"Adelie training range", "Prediction, extrapolated", "stroke-dasharray"},
		"bill_length_mm=45&species=Gentoo&sex=male": {"Gentoo training range, 40.9 to 59.6, is shaded"},
	} {
		r, err := ts.Client().Get(ts.URL + "/charts/predict.svg?" + query + "&v=" + art.Version)
		if err != nil {
			t.Fatal(err)
		}
		svg, _ := io.ReadAll(r.Body)
		r.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(svg), w) {
				t.Errorf("%s: the chart lacks %q", query, w)
			}
		}
	}

	// The fragment app.js asks for: the result section only.
	_, doc = get(t, ts, "/predict?bill_length_mm=50&species=Chinstrap&sex=female", "X-Fragment", "result")
	if doc.Find("html form").Length() != 0 || doc.Find("[data-testid=mass]").Length() != 1 {
		t.Error("fragment is not just the result")
	}
}

func TestPredictValidatesOnTheServer(t *testing.T) {
	api, _ := upAPI(t)
	ts := newTestApp(t, api)
	cases := map[string]map[string]string{
		"?bill_length_mm=abc&species=Gentoo&sex=male":   {"bill_length_mm": "must be a number"},
		"?bill_length_mm=70&species=Gentoo&sex=male":    {"bill_length_mm": "between 30 and 60"},
		"?bill_length_mm=45.55&species=Gentoo&sex=male": {"bill_length_mm": "steps of 0.1"},
		"?bill_length_mm=&species=Emperor&sex=x":        {"bill_length_mm": "Enter a bill length", "species": "Choose a species", "sex": "Choose female or male"},
		"?species=Gentoo":                               {"bill_length_mm": "Enter a bill length", "sex": "Choose female or male"},
		"?bill_length_mm=NaN&species=Gentoo&sex=male":   {"bill_length_mm": "must be a number"},
	}
	for query, errs := range cases {
		before := api.calls.Load()
		resp, doc := get(t, ts, "/predict"+query)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", query, resp.StatusCode)
		}
		for field, want := range errs {
			if got := doc.Find("[data-testid=error-" + field + "]").Text(); !strings.Contains(got, want) {
				t.Errorf("%s: %s error %q, want %q", query, field, got, want)
			}
		}
		if api.calls.Load() != before {
			t.Errorf("%s: invalid input was sent to the model API", query)
		}
	}
}

func TestPagesWhenTheModelServiceIsDown(t *testing.T) {
	ts := newTestApp(t, downAPI())
	for path, want := range map[string]int{
		"/": 200, "/explore": 200, "/status": 200, "/readyz": 200, "/healthz": 200,
		"/model": 503, "/predict?bill_length_mm=45&species=Gentoo&sex=male": 503, "/predict": 200, "/monitoring": 503,
	} {
		resp, doc := get(t, ts, path)
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
		if strings.HasPrefix(path, "/model") || strings.HasPrefix(path, "/predict?") || path == "/monitoring" {
			if got := doc.Find("[data-testid=notice]").Text(); !strings.Contains(got, "unavailable") {
				t.Errorf("%s: notice %q", path, got)
			}
			if doc.Find("h1").Length() != 1 || doc.Find("nav").Length() != 1 {
				t.Errorf("%s: not a full page", path)
			}
		}
		if path == "/" && !strings.Contains(doc.Find("[data-testid=notice]").Text(), "Model service unavailable") {
			t.Errorf("/ does not say the model service is unavailable")
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	api, _ := upAPI(t)
	ts := newTestApp(t, api)
	for _, path := range []string{"/", "/explore", "/model", "/predict", "/monitoring", "/status", "/static/app.js", "/static/style.css",
		"/charts/explore-scatter.svg", "/healthz", "/metrics", "/nope", "/predict?bill_length_mm=x"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

// TestAccessibleMarkup checks the rules every page keeps: a label for each
// control, alt text on images, headings that do not skip levels, and
// header cells in tables.
func TestAccessibleMarkup(t *testing.T) {
	api, _ := upAPI(t)
	ts := newTestApp(t, api)
	for _, path := range []string{"/", "/explore", "/model", "/predict?bill_length_mm=45&species=Gentoo&sex=male", "/monitoring", "/status", "/nope"} {
		_, doc := get(t, ts, path)
		if doc.Find("html").AttrOr("lang", "") != "en" || doc.Find("h1").Length() != 1 {
			t.Errorf("%s: lang or h1 missing", path)
		}
		doc.Find("input, select").Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("id", "")
			if id == "" || doc.Find(fmt.Sprintf("label[for=%q]", id)).Length() == 0 {
				t.Errorf("%s: control %s has no label", path, id)
			}
		})
		doc.Find("img").Each(func(_ int, s *goquery.Selection) {
			if strings.TrimSpace(s.AttrOr("alt", "")) == "" {
				t.Errorf("%s: image %s has no alt text", path, s.AttrOr("src", ""))
			}
		})
		last := 0
		doc.Find("h1, h2, h3, h4").Each(func(_ int, s *goquery.Selection) {
			level := int(goquery.NodeName(s)[1] - '0')
			if level > last+1 {
				t.Errorf("%s: heading %q skips from h%d to h%d", path, s.Text(), last, level)
			}
			last = level
		})
		doc.Find("table").Each(func(_ int, s *goquery.Selection) {
			if s.Find("thead th[scope=col]").Length() == 0 {
				t.Errorf("%s: table without column headers", path)
			}
		})
		if doc.Find("[style]").Length() > 0 || doc.Find("script:not([src])").Length() > 0 {
			t.Errorf("%s: inline style or script (the CSP forbids them)", path)
		}
	}
}

func TestStatusPage(t *testing.T) {
	api, art := upAPI(t)
	ts := newTestApp(t, api)
	_, doc := get(t, ts, "/status")
	if got := doc.Find("[data-testid=status-model-version]").Text(); got != art.Version {
		t.Errorf("model version %q", got)
	}
	if !strings.Contains(doc.Find("[data-testid=build]").Text(), "go1.26") {
		t.Error("build info missing")
	}
	resp, err := ts.Client().Get(ts.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var bi buildinfo.Info
	if err := json.NewDecoder(resp.Body).Decode(&bi); err != nil || bi.Version != "test" || bi.GoVersion != "go1.26" {
		t.Errorf("/version = %+v, %v", bi, err)
	}
}

func TestExport(t *testing.T) {
	api, art := upAPI(t)
	app, err := New(zaptest.NewLogger(t), api, nil, Options{Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := app.Export(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Errorf("exported %v", files)
	}
	for _, page := range []string{"index.html", "explore.html", "model.html"} {
		f, err := os.Open(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Every local link and image resolves to an exported file.
		doc.Find("a[href], img[src], link[href], script[src]").Each(func(_ int, s *goquery.Selection) {
			ref := s.AttrOr("href", s.AttrOr("src", ""))
			if strings.HasPrefix(ref, "#") {
				return
			}
			if strings.HasPrefix(ref, "/") || strings.Contains(ref, "://") {
				t.Errorf("%s: non-relative link %q", page, ref)
				return
			}
			if _, err := os.Stat(filepath.Join(dir, ref)); err != nil {
				t.Errorf("%s: %q does not resolve: %v", page, ref, err)
			}
		})
		if doc.Find("a[href='/predict'], a[href='predict.html']").Length() > 0 {
			t.Errorf("%s links to the live-only Predict page", page)
		}
	}
	body, _ := os.ReadFile(filepath.Join(dir, "model.html"))
	if !strings.Contains(string(body), art.Version) {
		t.Error("model.html lacks the served version")
	}
	// Without the model API there is no Model page to export.
	app, _ = New(zaptest.NewLogger(t), downAPI(), nil, Options{})
	if _, err := app.Export(context.Background(), t.TempDir()); err == nil || !errors.Is(err, errDown) {
		t.Errorf("export with the model API down: %v", err)
	}
}

// A key the model API refuses is an auth failure on the pages, not
// "unavailable": the Predict page and the Status page (whose readiness
// probe is open, so only the aliases call sees the refusal) say so, and
// the calls are counted with outcome "auth".
func TestAuthFailureIsNotUnavailable(t *testing.T) {
	api, _ := upAPI(t)
	refused := func(status int) error {
		return &modelapi.APIError{Op: "test", Status: status, Body: `{"title":"Unauthorized"}`,
			Problem: &modelapi.Problem{Title: http.StatusText(status), Status: status, Detail: "the API key is not valid (unknown or revoked)"}}
	}
	api.predict = func(context.Context, []modelapi.Record, modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
		return nil, refused(http.StatusForbidden)
	}
	api.aliases = func(context.Context) (*modelapi.Aliases, error) { return nil, refused(http.StatusUnauthorized) }
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/predict?bill_length_mm=45&species=Gentoo&sex=male")
	notice := doc.Find("[data-testid=notice]").Text()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(notice, "Model API auth failure") ||
		!strings.Contains(notice, "403") || strings.Contains(strings.ToLower(notice), "unavailable") {
		t.Errorf("predict page: %d %q", resp.StatusCode, notice)
	}
	_, doc = get(t, ts, "/status")
	if text := doc.Find("main").Text(); !strings.Contains(text, "Model API auth failure") || !strings.Contains(text, "401") {
		t.Errorf("status page does not report the auth failure:\n%s", text)
	}
	if !authOutcomeCounted(t, modelapi.CallStat{Op: "aliases", Err: refused(http.StatusUnauthorized)}) {
		t.Error("a refused call is not counted with outcome auth")
	}
}

// authOutcomeCounted reports whether a CallLog counts s as outcome "auth".
func authOutcomeCounted(t *testing.T, s modelapi.CallStat) bool {
	t.Helper()
	l := NewCallLog(4)
	l.Observe(s)
	return testutil.ToFloat64(l.total.WithLabelValues(s.Op, "auth")) == 1
}

// The curve marks every row the model flags, not only the 100 its
// warnings list: an Adelie's curve has 161 rows outside its data, and the
// point at 55 mm is among the last.
func TestCurveMarksEveryExtrapolatedRow(t *testing.T) {
	api, art := upAPI(t)
	app, err := New(zaptest.NewLogger(t), api, nil, Options{ModelURL: "http://model.test", Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := app.curveFor(context.Background(), curveKey{art.Version, "Adelie", "male"})
	if err != nil {
		t.Fatal(err)
	}
	marked := map[float64]bool{}
	flagged := 0
	for i, x := range curveRows {
		marked[x] = cv.extrapolated[i]
		if cv.extrapolated[i] {
			flagged++
		}
	}
	if flagged <= 100 {
		t.Errorf("%d rows flagged, want more than the 100 warnings list", flagged)
	}
	for x, want := range map[float64]bool{40: false, 55: true, 59.9: true} {
		if marked[x] != want {
			t.Errorf("%.1f mm: extrapolated %v, want %v", x, marked[x], want)
		}
	}
}
