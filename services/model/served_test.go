package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// TestEvaluateServedPredictions serves a model with the prediction log on,
// sends requests with known ids, then scores the served predictions against
// labels joined by request id and row: the pinned metrics must equal those
// computed here from the answers the client got.
func TestEvaluateServedPredictions(t *testing.T) {
	store, logDir := t.TempDir(), t.TempDir()
	train := exec.Command(binary, "train", "-store", store)
	train.Env = cleanEnv()
	if out, err := train.CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	p := start(t, "MODEL_STORE="+store, "MODEL_PREDICTION_LOG="+logDir)
	p.waitReady(t)

	// Labels: request id, row, year, truth. Two years; one labelled row
	// whose request was never served is left out.
	var labels strings.Builder
	labels.WriteString("request_id,row,year,body_mass_g\n")
	byYear := map[int][][2]float64{} // observed, predicted
	post := func(id, body string) []float64 {
		req, _ := http.NewRequest(http.MethodPost, p.url("/predict"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pr modelapi.PredictResponse
		if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || resp.StatusCode != 200 {
			t.Fatalf("predict %s: %d %v", id, resp.StatusCode, err)
		}
		return pr.Predict
	}
	for i := range 12 {
		year := 2008 + i%2
		id := fmt.Sprintf("req-%02d", i)
		preds := post(id, fmt.Sprintf(`[{"bill_length_mm": %d, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": %d, "species": "Adelie", "sex": "female"}]`, 40+i, 35+i))
		for row, pred := range preds {
			truth := 4000 + float64(100*i+37*row)
			fmt.Fprintf(&labels, "%s,%d,%d,%v\n", id, row, year, truth)
			byYear[year] = append(byYear[year], [2]float64{truth, pred})
		}
	}
	labels.WriteString("never-served,0,2008,4200\n")
	p.stop(t)
	data := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(data, []byte(labels.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := evaluateMain([]string{"-store", store, "-data", data, "-date-column", "year", "-period", "year", "-predictions", logDir}, &out, &errs); code != 0 {
		t.Fatalf("evaluate: exit %d\n%s%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "scored 24 of 25 rows") || !strings.Contains(out.String(), "1 no served prediction for its request_id") {
		t.Errorf("evaluate said:\n%s", out.String())
	}

	versions, err := massmodel.Store{Dir: store}.Versions(massmodel.Name)
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions %v, %v", versions, err)
	}
	pinned, err := massmodel.Store{Dir: store}.Metrics(massmodel.Name, versions[0])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range pinned {
		got[m.PeriodStart+" "+m.Metric] = m.Estimate
	}
	for year, pairs := range byYear {
		var se, ae, bias float64
		for _, pr := range pairs {
			r := pr[0] - pr[1]
			se, ae, bias = se+r*r, ae+math.Abs(r), bias+r
		}
		n := float64(len(pairs))
		for metric, want := range map[string]float64{"rmse": math.Sqrt(se / n), "mae": ae / n, "bias": bias / n} {
			key := fmt.Sprintf("%d-01-01 %s", year, metric)
			if math.Abs(got[key]-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%s = %v, from the answers %v", key, got[key], want)
			}
		}
	}
}
