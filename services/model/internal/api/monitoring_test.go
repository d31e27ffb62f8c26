package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// trainingBatch is the fixture model's training rows as a /predict body.
func trainingBatch(a *massmodel.Artifact) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, o := range a.Observations {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bill_length_mm": %v, "species": %q, "sex": %q}`, o.BillLengthMM, o.Species, o.Sex)
	}
	b.WriteByte(']')
	return b.String()
}

func (f *fixture) drift(t *testing.T) modelapi.Drift {
	t.Helper()
	resp, b := f.do(t, http.MethodGet, "/monitoring/drift", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/monitoring/drift: %d %s", resp.StatusCode, b)
	}
	return decodeJSON[modelapi.Drift](t, b)
}

var psiLine = regexp.MustCompile(`(?m)^model_feature_drift_psi\{feature="([a-z_]+)"\} (\S+)$`)

// metricsPSI reads the PSI gauges and the window size from /metrics.
func (f *fixture) metricsPSI(t *testing.T) (map[string]float64, float64) {
	t.Helper()
	_, b := f.do(t, http.MethodGet, "/metrics", "", "")
	psi := map[string]float64{}
	for _, m := range psiLine.FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("model_feature_drift_psi{%s} = %s", m[1], m[2])
		}
		psi[m[1]] = v
	}
	w := regexp.MustCompile(`(?m)^model_drift_window_records (\S+)$`).FindStringSubmatch(string(b))
	if w == nil {
		t.Fatal("no model_drift_window_records in /metrics")
	}
	n, _ := strconv.ParseFloat(w[1], 64)
	return psi, n
}

func TestDriftFromTrainingLikeToShiftedTraffic(t *testing.T) {
	f := newFixture(t, testLimits)

	d := f.drift(t)
	if !d.Available || d.Window.Records != 0 || d.Window.Size != DefaultDrift.Window || !strings.Contains(d.Window.ResetReason, f.art.Version) {
		t.Fatalf("fresh window: %+v", d)
	}
	for _, fd := range d.Features {
		if fd.Status != modelapi.DriftInsufficient || fd.PSI != nil {
			t.Errorf("empty window: %s %s %v", fd.Feature, fd.Status, fd.PSI)
		}
	}
	if psi, n := f.metricsPSI(t); len(psi) != 0 || n != 0 {
		t.Errorf("empty window exports psi %v, window %v", psi, n)
	}

	// The training rows, through /predict: no drift.
	if resp, b := f.predict(t, "", trainingBatch(f.art)); resp.StatusCode != 200 {
		t.Fatalf("predict: %d %s", resp.StatusCode, b)
	}
	d = f.drift(t)
	if d.Window.Records != len(f.art.Observations) || d.Window.Oldest == nil || d.Window.Newest == nil {
		t.Errorf("window after %d rows: %+v", len(f.art.Observations), d.Window)
	}
	psi, n := f.metricsPSI(t)
	if n != float64(len(f.art.Observations)) {
		t.Errorf("model_drift_window_records %v", n)
	}
	for _, fd := range d.Features {
		if fd.Status != modelapi.DriftOK || fd.PSI == nil || *fd.PSI > 1e-9 {
			t.Errorf("training rows: %s %s psi %v", fd.Feature, fd.Status, fd.PSI)
		}
		if got, ok := psi[fd.Feature]; !ok || math.Abs(got-*fd.PSI) > 1e-12 {
			t.Errorf("metric psi %s = %v, JSON %v", fd.Feature, got, *fd.PSI)
		}
	}

	// Shifted traffic through both endpoints: long-billed Gentoo males.
	for i := range 100 {
		bill := 52 + float64(i%30)/10
		f.predict(t, "", fmt.Sprintf(`[{"bill_length_mm": %v, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": %v, "species_Chinstrap": 0, "species_Gentoo": 1, "sex_male": 1}]`, bill, bill+0.5))
		body := `{"inputs": [` + tensor("bill_length_mm", "FP64", "[3]", fmt.Sprintf("[%v, %v, %v]", bill, bill+1, bill+2)) + `,` +
			tensor("species", "BYTES", "[3]", `["Gentoo", "Gentoo", "Gentoo"]`) + `,` + tensor("sex", "BYTES", "[3]", `["male", "male", "male"]`) + `]}`
		if resp, b := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", body); resp.StatusCode != 200 {
			t.Fatalf("infer: %d %s", resp.StatusCode, b)
		}
	}
	for range 3 {
		d = f.drift(t) // asking again must not log again
	}
	if want := len(f.art.Observations) + 100*5; d.Window.Records != want {
		t.Errorf("window holds %d records, want %d (/predict and /v2 alike)", d.Window.Records, want)
	}
	for _, fd := range d.Features {
		if fd.Feature == "sex" {
			continue // half the training rows are male: shifted, but less
		}
		if fd.Status != modelapi.DriftAlert {
			t.Errorf("shifted: %s is %s (psi %v), want alert", fd.Feature, fd.Status, *fd.PSI)
		}
	}
	// One "input drift" event per change: insufficient_data → ok, then
	// ok → alert (or warn) for each feature that moved.
	events := f.logs.FilterMessage("input drift").All()
	seen := map[string]int{}
	for _, e := range events {
		m := e.ContextMap()
		seen[fmt.Sprint(m["feature"], ": ", m["from"], " → ", m["to"])]++
	}
	for change, n := range seen {
		if n != 1 {
			t.Errorf("%q logged %d times", change, n)
		}
	}
	if seen["bill_length_mm: ok → alert"] != 1 || seen["species: insufficient_data → ok"] != 1 {
		t.Errorf("input drift events: %v", seen)
	}

	// Loading a model empties the window and says so.
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "reload"}); err != nil {
		t.Fatal(err)
	}
	d = f.drift(t)
	if d.Window.Records != 0 || d.Version != a.Version || !strings.Contains(d.Window.ResetReason, a.Version+" loaded (reload)") {
		t.Errorf("after reload: %+v", d.Window)
	}
}

// TestDriftOfAnOldArtifact: the released artifact has no profile; with its
// training data at hand one is rebuilt, without it drift is unavailable and
// says why, and predictions are served either way.
func TestDriftOfAnOldArtifact(t *testing.T) {
	a, m, err := massmodel.Store{Dir: "../../../../deploy/models"}.Load(massmodel.Name, "20261126T190011Z-43843ab108a1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data      penguins.Source
		available bool
		reason    string
	}{
		{penguins.Embedded{}, true, ""},
		{nil, false, "predates stored profiles"},
	} {
		f := newFixture(t, testLimits)
		if err := f.srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "board", Data: c.data}); err != nil {
			t.Fatal(err)
		}
		if resp, _ := f.predict(t, "", `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`); resp.StatusCode != 200 {
			t.Errorf("predict with drift available=%v: %d", c.available, resp.StatusCode)
		}
		d := f.drift(t)
		if d.Available != c.available || !strings.Contains(d.Reason, c.reason) || (c.available && d.Window.Records != 1) {
			t.Errorf("data %v: %+v", c.data, d)
		}
		if !c.available {
			if len(f.logs.FilterMessage("drift tracking unavailable").All()) != 1 {
				t.Error("no warning that drift tracking is unavailable")
			}
			b, _ := json.Marshal(d)
			if strings.Contains(string(b), "NaN") {
				t.Errorf("NaN in %s", b)
			}
		}
	}
}
