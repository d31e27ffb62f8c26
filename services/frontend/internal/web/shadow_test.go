package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// shadowReport is a /monitoring/shadow body for champion against a
// challenger, shaped like the model service's: 1000 records compared, in
// its buckets of |difference|.
func shadowReport(champion string) *modelapi.Shadow {
	first, last := time.Now().Add(-20*time.Minute).UTC(), time.Now().Add(-5*time.Second).UTC()
	mean, meanAbs, maxAbs := -1.42, 2.31, 18.4
	bounds := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
	counts := []uint64{412, 301, 187, 80, 20, 0, 0, 0, 0, 0, 0}
	r := &modelapi.Shadow{
		Status: modelapi.ShadowOK, Alias: "challenger", SampleRate: 0.1, Champion: champion, Challenger: "20261127T090000Z-0123456789ab",
		Records: 1000, First: &first, Last: &last, ScoredTotal: 1200, DroppedTotal: 3,
		MeanDifference: &mean, MeanAbsDifference: &meanAbs, MaxAbsDifference: &maxAbs,
		Quantiles: []modelapi.ShadowQuantile{{Quantile: 0.5, Value: 1.46}, {Quantile: 0.9, Value: 4.9}, {Quantile: 0.99, Value: 12.1}},
	}
	for i, c := range counts {
		b := modelapi.ShadowBucket{Count: c}
		if i > 0 {
			b.Lower = bounds[i-1]
		}
		if i < len(bounds) {
			b.Upper = &bounds[i]
		}
		r.Buckets = append(r.Buckets, b)
	}
	return r
}

func TestMonitoringShowsChampionAgainstChallenger(t *testing.T) {
	api, art := upAPI(t)
	want := shadowReport(art.Version)
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/monitoring")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sec := doc.Find("[data-testid=shadow]")
	if sec.AttrOr("data-status", "") != "ok" || sec.Find("[data-testid=shadow-notice]").Length() != 0 {
		t.Errorf("status %q, notice %q", sec.AttrOr("data-status", ""), sec.Find("[data-testid=shadow-notice]").Text())
	}
	for id, text := range map[string]string{
		"shadow-champion":   art.Version,
		"shadow-challenger": want.Challenger,
		"shadow-sample":     "10% of the live records",
		"shadow-records":    "1000 records of this pair (1200 scored, 3 dropped since the model service started)",
		"shadow-mean":       "−1.4 g",
		"shadow-mean-abs":   "2.3 g (largest 18.4 g)",
		"shadow-quantiles":  "p50 1.5 g, p90 4.9 g, p99 12.1 g",
	} {
		if got := strings.Join(strings.Fields(sec.Find("[data-testid="+id+"]").Text()), " "); got != text {
			t.Errorf("%s %q, want %q", id, got, text)
		}
	}
	// The chart describes every bucket with the count the model service
	// sent, and the table says the same.
	svg := sec.Find("[data-testid=shadow-chart] > svg[role=img]")
	if svg.Length() != 1 {
		t.Fatalf("%d charts", svg.Length())
	}
	desc := svg.Find("desc").Text()
	rows := sec.Find("[data-testid=shadow-table] tbody tr")
	wantRows := [][3]string{{"≤ 1", "412", "41.2%"}, {"1–2", "301", "30.1%"}, {"2–5", "187", "18.7%"}, {"5–10", "80", "8.0%"}, {"10–20", "20", "2.0%"},
		{"20–50", "0", "0.0%"}, {"50–100", "0", "0.0%"}, {"100–200", "0", "0.0%"}, {"200–500", "0", "0.0%"}, {"500–1000", "0", "0.0%"}, {"> 1000", "0", "0.0%"}}
	if rows.Length() != len(wantRows) {
		t.Fatalf("%d rows, want %d", rows.Length(), len(wantRows))
	}
	for i, w := range wantRows {
		row := rows.Eq(i)
		if got := [3]string{row.Find("th").Text(), row.Find("td").Eq(0).Text(), row.Find("td").Eq(1).Text()}; got != w {
			t.Errorf("row %d: %v, want %v", i, got, w)
		}
		if s := w[0] + ": " + w[1] + " (" + w[2] + ")"; !strings.Contains(desc, s) {
			t.Errorf("chart description lacks %q: %s", s, desc)
		}
	}
}

func TestMonitoringShadowStates(t *testing.T) {
	for name, c := range map[string]struct {
		answer      func(context.Context) (*modelapi.Shadow, error)
		status      string
		want        []string
		hint, facts bool
	}{
		"no shadow configured": {
			answer: func(context.Context) (*modelapi.Shadow, error) {
				return &modelapi.Shadow{Status: modelapi.ShadowOff, Reason: "no shadow configured", Champion: "v1"}, nil
			},
			status: "off", want: []string{"No shadow configured", "no challenger is compared"}, hint: true,
		},
		"alias missing": {
			answer: func(context.Context) (*modelapi.Shadow, error) {
				return &modelapi.Shadow{Status: modelapi.ShadowUnavailable, Alias: "challenger", Champion: "v1", SampleRate: 0.1,
					Reason: `resolving the target: alias "challenger": unknown alias`}, nil
			},
			status: "unavailable", want: []string{"Shadow scoring unavailable", `alias "challenger": unknown alias`, "The served model is not affected"},
		},
		"nothing compared yet": {
			answer: func(context.Context) (*modelapi.Shadow, error) {
				return &modelapi.Shadow{Status: modelapi.ShadowOK, Alias: "challenger", Champion: "v1", Challenger: "v2", SampleRate: 0.07}, nil
			},
			status: "ok", want: []string{"Nothing compared yet", "v2 scores 7% of the live records"}, facts: true,
		},
		"older model service": {
			answer: nil, want: []string{"No shadow configured", "predates shadow scoring"},
		},
		"model service down": {
			answer: func(context.Context) (*modelapi.Shadow, error) { return nil, errDown },
			want:   []string{"Shadow scoring unavailable", "not answering"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			api, _ := upAPI(t)
			api.shadow = c.answer
			resp, doc := get(t, newTestApp(t, api), "/monitoring")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: one section's failure fails the page", resp.StatusCode)
			}
			sec := doc.Find("[data-testid=shadow]")
			if got := sec.AttrOr("data-status", ""); got != c.status {
				t.Errorf("data-status %q, want %q", got, c.status)
			}
			n := sec.Find("[data-testid=shadow-notice]").Text()
			for _, w := range c.want {
				if !strings.Contains(n, w) {
					t.Errorf("notice %q lacks %q", n, w)
				}
			}
			if got := sec.Find("[data-testid=shadow-hint]").Length() == 1; got != c.hint {
				t.Errorf("hint shown %v", got)
			}
			if got := sec.Find("[data-testid=shadow-facts]").Length() == 1; got != c.facts {
				t.Errorf("facts shown %v", got)
			}
			if sec.Find("[data-testid=shadow-chart], [data-testid=shadow-table]").Length() != 0 {
				t.Error("a chart or table with nothing to show")
			}
			// The rest of the page is there.
			if doc.Find("[data-testid=drift-table]").Length() != 1 {
				t.Error("no drift table")
			}
		})
	}
}
