package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// driftReport is a /monitoring/drift body for version with records in the
// window, shaped like the model service's: bill length in ten decile bins,
// species and sex by category, the prediction binned. With enough records,
// bill length and species drift (mostly Gentoo with long bills), the
// prediction drifts a little and sex not at all.
func driftReport(version string, records int) *modelapi.Drift {
	reset := time.Now().Add(-10 * time.Minute).UTC()
	oldest, newest := time.Now().Add(-3*time.Minute).UTC(), time.Now().Add(-2*time.Second).UTC()
	d := &modelapi.Drift{
		Model: "penguin_model", Version: version, Available: true,
		Thresholds: modelapi.DriftThreshold{Warn: 0.1, Alert: 0.25, MinRecords: 100},
		Window: modelapi.DriftWindow{Size: 1000, Records: records, ResetAt: reset,
			ResetReason: "model " + version + " loaded (trained at start-up from embedded:penguins.csv)"},
	}
	if records > 0 {
		d.Window.Oldest, d.Window.Newest = &oldest, &newest
	}
	numeric := func(edges, ref, cur []float64) []modelapi.DriftBin {
		bins := make([]modelapi.DriftBin, len(ref))
		for i := range bins {
			b := modelapi.DriftBin{Reference: ref[i], Current: cur[i]}
			switch {
			case i == 0:
				b.Upper, b.Label = &edges[0], fmt.Sprintf("< %g", edges[0])
			case i == len(ref)-1:
				b.Lower, b.Label = &edges[i-1], fmt.Sprintf("≥ %g", edges[i-1])
			default:
				b.Lower, b.Upper, b.Label = &edges[i-1], &edges[i], fmt.Sprintf("[%g, %g)", edges[i-1], edges[i])
			}
			bins[i] = b
		}
		return bins
	}
	tenth := []float64{0.099, 0.099, 0.102, 0.096, 0.102, 0.099, 0.096, 0.102, 0.096, 0.109}
	features := []struct {
		name, kind, status string
		psi                float64
		bins               []modelapi.DriftBin
	}{
		{"bill_length_mm", "numeric", modelapi.DriftAlert, 0.731, numeric(
			[]float64{36.6, 38.6, 40.26, 42, 44.5, 46.1, 47.5, 49.5, 50.8}, tenth,
			[]float64{0.02, 0.02, 0.03, 0.03, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2})},
		{"species", "categorical", modelapi.DriftAlert, 0.414, []modelapi.DriftBin{
			{Label: "Adelie", Reference: 0.438, Current: 0.2}, {Label: "Chinstrap", Reference: 0.204, Current: 0.1}, {Label: "Gentoo", Reference: 0.358, Current: 0.7}}},
		{"sex", "categorical", modelapi.DriftOK, 0.00008, []modelapi.DriftBin{
			{Label: "female", Reference: 0.495, Current: 0.5}, {Label: "male", Reference: 0.505, Current: 0.5}}},
		{"prediction", "numeric", modelapi.DriftWarn, 0.12, numeric(
			[]float64{3347.22, 3397.56, 3500.37, 4005.1, 4054.48, 4113.23, 4727.65, 4836.32, 5414.92}, tenth,
			[]float64{0.05, 0.05, 0.08, 0.08, 0.1, 0.1, 0.1, 0.14, 0.15, 0.15})},
	}
	for _, f := range features {
		fd := modelapi.FeatureDrift{Feature: f.name, Kind: f.kind, Status: f.status, Bins: f.bins}
		if records < d.Thresholds.MinRecords {
			fd.Status = modelapi.DriftInsufficient
		} else {
			fd.PSI = &f.psi
		}
		if records == 0 {
			for i := range fd.Bins {
				fd.Bins[i].Current = 0
			}
		}
		d.Features = append(d.Features, fd)
	}
	return d
}

func TestMonitoringPage(t *testing.T) {
	api, art := upAPI(t)
	want := driftReport(art.Version, 250)
	api.drift = func(context.Context) (*modelapi.Drift, error) { return want, nil }
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := doc.Find("nav a[aria-current=page]").Text(); got != "Monitoring" {
		t.Errorf("current navigation item %q", got)
	}
	if got := doc.Find("[data-testid=drift-version]").Text(); got != art.Version {
		t.Errorf("version %q", got)
	}
	summary := doc.Find("[data-testid=notice]").Text()
	if !strings.Contains(summary, "Input drift") || !strings.Contains(summary, "in: Bill length (mm), Species.") {
		t.Errorf("summary %q", summary)
	}

	wantRow := map[string][3]string{
		"bill_length_mm": {"alert", "Alert", "0.731"},
		"species":        {"alert", "Alert", "0.414"},
		"sex":            {"ok", "OK", "< 0.001"},
		"prediction":     {"warn", "Warn", "0.120"},
	}
	rows := doc.Find("[data-testid=drift-table] tbody tr")
	if rows.Length() != len(want.Features) {
		t.Fatalf("%d rows, want %d", rows.Length(), len(want.Features))
	}
	rows.Each(func(_ int, tr *goquery.Selection) {
		f := tr.AttrOr("data-feature", "")
		got := [3]string{tr.AttrOr("data-status", ""), tr.Find("[data-testid=drift-status]").Text(), tr.Find(".psi").Text()}
		if got != wantRow[f] {
			t.Errorf("%s: %v, want %v", f, got, wantRow[f])
		}
	})

	if got := doc.Find("[data-testid=window-records]").Text(); got != "250 (it keeps the last 1000)" {
		t.Errorf("records %q", got)
	}
	for id, tm := range map[string]time.Time{"window-oldest": *want.Window.Oldest, "window-newest": *want.Window.Newest, "window-reset": want.Window.ResetAt} {
		if got := doc.Find("[data-testid=" + id + "]").Text(); !strings.Contains(got, tm.Format("2006-01-02 15:04:05 UTC")) {
			t.Errorf("%s %q, want the time %s", id, got, tm)
		}
	}
	if got := doc.Find("[data-testid=window-oldest]").Text(); !strings.Contains(got, "(3 min 0 s ago)") && !strings.Contains(got, "(3 min 1 s ago)") {
		t.Errorf("oldest %q does not give the window's age", got)
	}
	if got := doc.Find("[data-testid=window-reset]").Text(); !strings.Contains(got, want.Window.ResetReason) {
		t.Errorf("reset %q", got)
	}

	// Each feature's chart is an SVG in the page, with a description that
	// gives every bin's two shares as the model service sent them, and a
	// table of the same.
	for _, f := range want.Features {
		sec := doc.Find("[data-testid=drift-" + f.Feature + "]")
		svg := sec.Find("[data-testid=drift-chart] > svg[role=img]")
		if svg.Length() != 1 {
			t.Fatalf("%s: %d charts", f.Feature, svg.Length())
		}
		desc := svg.Find("desc").Text()
		cells := sec.Find("details tbody tr")
		if cells.Length() != len(f.Bins) {
			t.Errorf("%s: %d table rows, want %d", f.Feature, cells.Length(), len(f.Bins))
		}
		for i, b := range f.Bins {
			ref, cur := fmt.Sprintf("%.1f", 100*b.Reference), fmt.Sprintf("%.1f", 100*b.Current)
			if s := fmt.Sprintf("%s: %s%% against %s%%", b.Label, ref, cur); !strings.Contains(desc, s) {
				t.Errorf("%s: chart description lacks %q: %s", f.Feature, s, desc)
			}
			row := cells.Eq(i)
			if got := [3]string{row.Find("th").Text(), row.Find("td").Eq(0).Text(), row.Find("td").Eq(1).Text()}; got != [3]string{b.Label, ref + "%", cur + "%"} {
				t.Errorf("%s bin %d: %v", f.Feature, i, got)
			}
		}
	}

	rules := doc.Find("[data-testid=alert-rules]")
	if !strings.Contains(rules.Text(), alertRulesPath) || rules.Find("a").Length() != 0 {
		t.Errorf("alert rules without a URL: %q, %d links", rules.Text(), rules.Find("a").Length())
	}
}

func TestMonitoringLinksTheAlertRules(t *testing.T) {
	api, _ := upAPI(t)
	url := "https://git.example/penguins/blob/main/deploy/monitoring/alerts.yml"
	app, err := New(zaptest.NewLogger(t), api, nil, Options{Build: buildinfo.Info{Version: "test"}, AlertRulesURL: url})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	_, doc := get(t, ts, "/monitoring")
	if a := doc.Find("[data-testid=alert-rules] a"); a.AttrOr("href", "") != url || a.Text() != alertRulesPath {
		t.Errorf("alert rules link %q %q", a.AttrOr("href", ""), a.Text())
	}
}

func TestMonitoringNotEnoughTraffic(t *testing.T) {
	for _, records := range []int{0, 40} {
		t.Run(fmt.Sprint(records), func(t *testing.T) {
			api, art := upAPI(t)
			api.drift = func(context.Context) (*modelapi.Drift, error) { return driftReport(art.Version, records), nil }
			ts := newTestApp(t, api)
			resp, doc := get(t, ts, "/monitoring")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := doc.Find("[data-testid=notice]").Text(); !strings.Contains(got, "Not enough traffic yet") ||
				!strings.Contains(got, fmt.Sprintf("holds %d records", records)) {
				t.Errorf("notice %q", got)
			}
			doc.Find("[data-testid=drift-table] tbody tr").Each(func(_ int, tr *goquery.Selection) {
				if tr.Find("[data-testid=drift-status]").Text() != "Not enough data" || tr.Find(".psi").Text() != "–" {
					t.Errorf("%s: %q %q", tr.AttrOr("data-feature", ""), tr.Find("[data-testid=drift-status]").Text(), tr.Find(".psi").Text())
				}
			})
			// The training data's shares are worth seeing before traffic comes.
			if n := doc.Find("[data-testid=drift-chart] svg").Length(); n != 4 {
				t.Errorf("%d charts, want 4", n)
			}
			if has := doc.Find("[data-testid=window-oldest]").Length() == 1; has != (records > 0) {
				t.Errorf("%d records: oldest shown %v", records, has)
			}
		})
	}
}

func TestMonitoringDriftNotTracked(t *testing.T) {
	api, art := upAPI(t)
	reason := "the artifact has no reference profile, and it was trained on file:/data/other.csv"
	api.drift = func(context.Context) (*modelapi.Drift, error) {
		return &modelapi.Drift{Model: art.Name, Version: art.Version, Reason: reason, Features: []modelapi.FeatureDrift{}}, nil
	}
	ts := newTestApp(t, api)
	older := newTestApp(t, &fakeAPI{drift: func(context.Context) (*modelapi.Drift, error) {
		return nil, &modelapi.APIError{Op: "drift", Status: http.StatusNotFound, Body: `{"message":"Not Found"}`}
	}, performance: func(context.Context, string) (*modelapi.Performance, error) {
		return nil, &modelapi.APIError{Op: "performance", Status: http.StatusNotFound, Body: `{"message":"Not Found"}`}
	}})
	for name, c := range map[string]struct {
		ts   *httptest.Server
		want string
	}{
		"no reference profile": {ts, reason},
		"older model service":  {older, "predates drift tracking"},
	} {
		resp, doc := get(t, c.ts, "/monitoring")
		n := doc.Find("[data-testid=notice]").Text()
		if resp.StatusCode != 200 || !strings.Contains(n, "Drift is not tracked") || !strings.Contains(n, c.want) {
			t.Errorf("%s: status %d, notice %q", name, resp.StatusCode, n)
		}
		if doc.Find("[data-testid=drift-table], [data-testid=drift-chart]").Length() != 0 {
			t.Errorf("%s: shows a table or chart", name)
		}
		if !strings.Contains(doc.Find("[data-testid=alert-rules]").Text(), alertRulesPath) {
			t.Errorf("%s: no alert rules", name)
		}
	}
}

// TestMonitoringBadChartData: a share the chart cannot draw costs that
// chart, not the page.
func TestMonitoringBadChartData(t *testing.T) {
	api, art := upAPI(t)
	api.drift = func(context.Context) (*modelapi.Drift, error) {
		d := driftReport(art.Version, 250)
		d.Features[2].Bins[0].Current = 1.5
		return d, nil
	}
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != 200 || doc.Find("[data-testid=drift-chart] svg").Length() != 3 ||
		doc.Find("[data-testid=drift-sex] [data-testid=drift-chart-error]").Length() != 1 {
		t.Errorf("status %d, %d charts", resp.StatusCode, doc.Find("[data-testid=drift-chart] svg").Length())
	}
	if got := doc.Find("[data-testid=drift-sex] details tbody tr").First().Find("td").Eq(1).Text(); got != "150.0%" {
		t.Errorf("the table does not show what the model service sent: %q", got)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Minute:                "just now",
		500 * time.Millisecond:      "just now",
		42 * time.Second:            "42 s ago",
		3*time.Minute + time.Second: "3 min 1 s ago",
		26*time.Hour + time.Minute:  "26 h 1 min ago",
		72 * time.Hour:              "3 days ago",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}
