package massmodel

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

// storedModel trains into a fresh store and loads the version back.
func storedModel(t *testing.T) (Store, *Artifact, *Model) {
	t.Helper()
	s := Store{Dir: t.TempDir()}
	if _, err := s.Write(trained(t)); err != nil {
		t.Fatal(err)
	}
	a, m, err := s.Load(Name, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, a, m
}

// byHand computes the metrics by year from the raw CSV with nothing but
// encoding/csv, the artifact's coefficients and the textbook formulas.
func byHand(t *testing.T, a *Artifact) map[string]map[string]float64 {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(penguins.EmbeddedCSV())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	b := map[string]float64{}
	for _, c := range a.Coefficients {
		b[c.Term] = c.Estimate
	}
	obs, pred := map[string][]float64{}, map[string][]float64{}
	for _, r := range recs[1:] {
		bill, mass, sp, sex := r[col["bill_length_mm"]], r[col["body_mass_g"]], r[col["species"]], r[col["sex"]]
		if bill == "NA" || mass == "NA" || sex == "NA" {
			continue
		}
		x, _ := strconv.ParseFloat(bill, 64)
		y, _ := strconv.ParseFloat(mass, 64)
		p := b["(Intercept)"] + b["bill_length_mm"]*x
		switch sp {
		case "Chinstrap":
			p += b["speciesChinstrap"]
		case "Gentoo":
			p += b["speciesGentoo"]
		}
		if sex == "male" {
			p += b["sexmale"]
		}
		yr := r[col["year"]] + "-01-01"
		obs[yr] = append(obs[yr], y)
		pred[yr] = append(pred[yr], p)
	}
	out := map[string]map[string]float64{}
	for yr, o := range obs {
		var mean, ssr, sst, sa, sb float64
		for _, v := range o {
			mean += v
		}
		mean /= float64(len(o))
		for i, v := range o {
			e := v - pred[yr][i]
			ssr += e * e
			sst += (v - mean) * (v - mean)
			sa += math.Abs(e)
			sb += e
		}
		n := float64(len(o))
		out[yr] = map[string]float64{"n": n, "rmse": math.Sqrt(ssr / n), "mae": sa / n, "rsq": 1 - ssr/sst, "bias": sb / n}
	}
	return out
}

func evaluateEmbedded(t *testing.T, a *Artifact, m *Model) *Evaluation {
	t.Helper()
	ev, err := Evaluate(bytes.NewReader(penguins.EmbeddedCSV()), a, m, EvaluateOptions{DateColumn: "year", Period: "year"})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEvaluateByYearMatchesAHandComputation(t *testing.T) {
	_, a, m := storedModel(t)
	ev := evaluateEmbedded(t, a, m)
	want := byHand(t, a)
	if len(want) != 3 || len(ev.Metrics) != 12 {
		t.Fatalf("want 3 years of 4 metrics, got %d metrics: %+v", len(ev.Metrics), ev.Metrics)
	}
	if ev.Rows != 344 || ev.Scored != 333 || ev.Dropped["missing sex"] != 9 || ev.Dropped["missing bill_length_mm, body_mass_g, sex"] != 2 {
		t.Errorf("rows %d, scored %d, dropped %v", ev.Rows, ev.Scored, ev.Dropped)
	}
	for i, pm := range ev.Metrics {
		w, ok := want[pm.PeriodStart]
		if !ok || pm.Period != "year" {
			t.Fatalf("unexpected period %+v", pm)
		}
		if wantMetric := []string{"rmse", "mae", "rsq", "bias"}[i%4]; pm.Metric != wantMetric {
			t.Errorf("metric %d is %s, want %s", i, pm.Metric, wantMetric)
		}
		if float64(pm.N) != w["n"] {
			t.Errorf("%s n = %d, want %v", pm.PeriodStart, pm.N, w["n"])
		}
		if math.Abs(pm.Estimate-w[pm.Metric]) > 1e-9*math.Max(1, math.Abs(w[pm.Metric])) {
			t.Errorf("%s %s = %v, want %v", pm.PeriodStart, pm.Metric, pm.Estimate, w[pm.Metric])
		}
	}
	if ev.Metrics[0].PeriodStart != "2007-01-01" || ev.Metrics[11].PeriodStart != "2009-01-01" {
		t.Errorf("periods not in order: %+v", ev.Metrics)
	}
}

func TestPeriodStart(t *testing.T) {
	// 2008-11-13 is a Thursday.
	d := time.Date(2008, 11, 13, 22, 30, 0, 0, time.UTC)
	for period, want := range map[string]string{
		"day": "2008-11-13", "week": "2008-11-10", "month": "2008-11-01", "quarter": "2008-10-01", "year": "2008-01-01",
	} {
		got, err := PeriodStart(d, period)
		if err != nil || got.Format(time.DateOnly) != want {
			t.Errorf("%s: %v %v, want %s", period, got, err, want)
		}
	}
	// A Sunday belongs to the week that began the Monday before (ISO).
	if got, _ := PeriodStart(time.Date(2009, 1, 4, 0, 0, 0, 0, time.UTC), "week"); got.Format(time.DateOnly) != "2008-12-29" {
		t.Errorf("week of Sunday 2009-01-04 starts %v", got)
	}
	if _, err := PeriodStart(d, "fortnight"); err == nil {
		t.Error("fortnight accepted")
	}
}

func TestEvaluateDatesAndPeriods(t *testing.T) {
	_, a, m := storedModel(t)
	csvText := "date,bill_length_mm,species,sex,body_mass_g\n" +
		"2024-03-31T23:30:00-02:00,45,Gentoo,male,5300\n" + // 2024-04-01 in UTC
		"2024-04-02,45,Gentoo,male,5200\n" +
		"2024-02-15,40,Adelie,female,3400\n" +
		"2024-02-16,NA,Adelie,female,3500\n" +
		"2024-02-17,41,Adelie,female,NA\n"
	ev, err := Evaluate(strings.NewReader(csvText), a, m, EvaluateOptions{DateColumn: "date", Period: "quarter"})
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, pm := range ev.Metrics {
		starts = append(starts, fmt.Sprint(pm.PeriodStart, "/", pm.N, "/", pm.Metric))
	}
	// Q1 has one scored row: its R² is undefined and left out.
	want := "[2024-01-01/1/rmse 2024-01-01/1/mae 2024-01-01/1/bias 2024-04-01/2/rmse 2024-04-01/2/mae 2024-04-01/2/rsq 2024-04-01/2/bias]"
	if fmt.Sprint(starts) != want {
		t.Errorf("got %v\nwant %s", starts, want)
	}
	if ev.Dropped["missing bill_length_mm"] != 1 || ev.Dropped["missing body_mass_g"] != 1 {
		t.Errorf("dropped %v", ev.Dropped)
	}
}

// TestEvaluateBadInput checks that each bad input is refused with an error
// naming its row or column, and that nothing is pinned.
func TestEvaluateBadInput(t *testing.T) {
	const head = "year,bill_length_mm,species,sex,body_mass_g\n"
	for _, c := range []struct {
		name, csv, date, period string
		want                    []string
	}{
		{"no date column", head + "2007,45,Gentoo,male,5000\n", "date", "year", []string{`"date"`}},
		{"no truth column", "year,bill_length_mm,species,sex\n2007,45,Gentoo,male\n", "year", "year", []string{`"body_mass_g"`}},
		{"no input column", "year,species,sex,body_mass_g\n2007,Gentoo,male,5000\n", "year", "year", []string{`"bill_length_mm"`}},
		{"unparseable date", head + "2007,45,Gentoo,male,5000\n07/11/2008,45,Gentoo,male,5000\n", "year", "year", []string{"row 2", `"year"`, "07/11/2008"}},
		{"year finer than a year", head + "2007,45,Gentoo,male,5000\n", "year", "month", []string{"row 1", "-period year"}},
		{"truth not a number", head + "2007,45,Gentoo,male,heavy\n", "year", "year", []string{"row 1", `"body_mass_g"`, "heavy"}},
		{"unknown species", head + "2007,45,Gentoo,male,5000\n2007,45,Emperor,male,5000\n", "year", "year", []string{"row 2", `"species"`, "Emperor", "does not know"}},
		{"unknown sex", head + "2007,45,Gentoo,unknown,5000\n", "year", "year", []string{"row 1", `"sex"`}},
		{"bill not a number", head + "2007,long,Gentoo,male,5000\n", "year", "year", []string{"row 1", `"bill_length_mm"`}},
		{"unknown period", head + "2007,45,Gentoo,male,5000\n", "year", "decade", []string{`"decade"`, "day, week, month, quarter, year"}},
		{"ragged row", head + "2007,45,Gentoo\n", "year", "year", []string{"row 1"}},
		{"nothing to score", head + "2007,NA,Gentoo,male,5000\n", "year", "year", []string{"no row"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, a, m := storedModel(t)
			_, err := Evaluate(strings.NewReader(c.csv), a, m, EvaluateOptions{DateColumn: c.date, Period: c.period})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, err := os.Stat(filepath.Join(s.Dir, Name, a.Version, MetricsFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("something was pinned: %v", err)
			}
		})
	}
}

func TestEvaluateRefusesAModelWithOtherInputs(t *testing.T) {
	_, a, m := storedModel(t)
	other := *a
	other.Schema.Inputs = append(other.Schema.Inputs, Feature{Name: "flipper_length_mm", Type: "number"})
	_, err := Evaluate(bytes.NewReader(penguins.EmbeddedCSV()), &other, m, EvaluateOptions{DateColumn: "year", Period: "year"})
	if err == nil || !strings.Contains(err.Error(), "flipper_length_mm") {
		t.Errorf("err = %v", err)
	}
}

func TestPinMetricsOverlapAndOverwrite(t *testing.T) {
	s, a, m := storedModel(t)
	ev := evaluateEmbedded(t, a, m)
	if _, err := s.PinMetrics(Name, a.Version, ev.Metrics, false, testNow); err != nil {
		t.Fatal(err)
	}
	got, err := s.Metrics(Name, a.Version)
	if err != nil || len(got) != 12 {
		t.Fatalf("read back %d metrics, %v", len(got), err)
	}

	// 2008 by month overlaps the pinned year 2008 only.
	month := []PeriodMetric{
		{PeriodStart: "2008-06-01", Period: "month", N: 5, Metric: MetricRMSE, Estimate: 1},
		{PeriodStart: "2010-06-01", Period: "month", N: 5, Metric: MetricRMSE, Estimate: 2},
	}
	_, err = s.PinMetrics(Name, a.Version, month, false, testNow)
	if !errors.Is(err, ErrOverlap) || !strings.Contains(err.Error(), "year 2008-01-01") ||
		strings.Contains(err.Error(), "2007") || strings.Contains(err.Error(), "2009") {
		t.Fatalf("err = %v, want the overlap with year 2008 named, and only it", err)
	}
	if again, _ := s.Metrics(Name, a.Version); len(again) != 12 {
		t.Fatalf("a refused pin changed the file: %d metrics", len(again))
	}
	all, err := s.PinMetrics(Name, a.Version, month, true, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, pm := range all {
		summary = append(summary, pm.Period+" "+pm.PeriodStart+" "+pm.Metric)
	}
	want := "[year 2007-01-01 rmse year 2007-01-01 mae year 2007-01-01 rsq year 2007-01-01 bias month 2008-06-01 rmse " +
		"year 2009-01-01 rmse year 2009-01-01 mae year 2009-01-01 rsq year 2009-01-01 bias month 2010-06-01 rmse]"
	if fmt.Sprint(summary) != want {
		t.Errorf("after -overwrite: %v\nwant %s", summary, want)
	}
	if back, err := s.Metrics(Name, a.Version); err != nil || len(back) != len(all) {
		t.Errorf("read back %d, %v", len(back), err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir, Name, a.Version))
	if len(entries) != 2 {
		t.Errorf("version directory holds %d entries, want model.json and metrics.json (no staged leftovers)", len(entries))
	}
}

func TestPinnedMetricsAreVerified(t *testing.T) {
	s, a, m := storedModel(t)
	if _, err := s.PinMetrics(Name, a.Version, evaluateEmbedded(t, a, m).Metrics, false, testNow); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir, Name, a.Version, MetricsFile)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func([]byte) []byte{
		"estimate edited": func(b []byte) []byte { return bytes.Replace(b, []byte(`"n": 103`), []byte(`"n": 104`), 1) },
		"truncated":       func(b []byte) []byte { return b[:len(b)/2] },
		"unknown field":   func(b []byte) []byte { return bytes.Replace(b, []byte(`"name"`), []byte(`"x": 1, "name"`), 1) },
	} {
		if err := os.WriteFile(path, edit(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Metrics(Name, a.Version); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := s.PinMetrics(Name, a.Version, nil, true, testNow); err == nil {
			t.Errorf("%s: pinning over a corrupt file accepted", name)
		}
	}
	if _, err := s.Metrics(Name, "20990101T000000Z-000000000000"); err == nil {
		t.Error("metrics of a version not in the store")
	}
	if _, err := s.Metrics(Name, "latest"); err == nil {
		t.Error("malformed version accepted")
	}
}

func TestTrainingScores(t *testing.T) {
	_, a, m := storedModel(t)
	d, err := Diagnose(t.Context(), a, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := TrainingScores(d)
	if sc.N != a.Metrics.N || math.Abs(sc.RMSE-a.Metrics.RMSE) > 1e-9 || math.Abs(sc.RSQ-a.Metrics.R2) > 1e-9 || math.Abs(sc.Bias) > 1e-6 {
		t.Errorf("training scores %+v against the fit's %+v", sc, a.Metrics)
	}
}
