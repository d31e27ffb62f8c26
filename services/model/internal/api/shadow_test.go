package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/shadow"
)

// only2007 is the embedded data of 2007 alone: a model trained on it is a
// challenger that differs from the one trained on every row.
type only2007 struct{}

func (only2007) Describe() string { return "test:2007" }

func (only2007) Load(ctx context.Context) ([]penguins.Penguin, error) {
	rows, err := penguins.Embedded{}.Load(ctx)
	return slices.DeleteFunc(rows, func(p penguins.Penguin) bool { return p.Year != 2007 }), err
}

type shadowFixture struct {
	*fixture
	sh         *shadow.Scorer
	challenger *massmodel.Artifact
	cm         *massmodel.Model
}

// newShadowFixture serves the full model with a shadow that samples every
// record, with a challenger trained on 2007 when loaded is true, and none
// (the alias missing) otherwise.
func newShadowFixture(t *testing.T, ck *checker, loaded bool) *shadowFixture {
	t.Helper()
	f := &shadowFixture{fixture: newCheckedFixture(t, testLimits, ck)}
	var err error
	if f.sh, err = shadow.New(zaptest.NewLogger(t), shadow.Options{Alias: "challenger", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	f.srv.Registerer().MustRegister(f.sh.Collector())
	f.srv.EnableShadow(f.sh)
	if loaded {
		if f.challenger, f.cm, err = massmodel.TrainFrom(context.Background(), only2007{}, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.sh.SetChallenger(f.challenger.Version, f.cm)
	} else {
		f.sh.Refused("", errors.New(`resolving the target: alias "challenger": unknown alias`))
	}
	f.sh.Start()
	t.Cleanup(f.sh.Close)
	return f
}

func (f *fixture) shadowReport(t *testing.T) modelapi.Shadow {
	t.Helper()
	resp, b := f.do(t, http.MethodGet, "/monitoring/shadow", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/monitoring/shadow: %d %s", resp.StatusCode, b)
	}
	return decodeJSON[modelapi.Shadow](t, b)
}

// TestShadowComparesWhatWasServed predicts through both interfaces with a
// shadow sampling every record, then checks the report against the
// answers the client received and the challenger's own predictions.
func TestShadowComparesWhatWasServed(t *testing.T) {
	f := newShadowFixture(t, newChecker(t), true)
	var records []string
	var inputs []massmodel.Input
	for i := range 40 {
		in := massmodel.Input{BillLengthMM: 35 + float64(i)/2, Species: penguins.AllSpecies[i%3], Sex: penguins.AllSexes[i%2]}
		inputs = append(inputs, in)
		records = append(records, fmt.Sprintf(`{"bill_length_mm": %g, "species": %q, "sex": %q}`, in.BillLengthMM, in.Species, in.Sex))
	}
	resp, b := f.predict(t, "", "["+strings.Join(records[:39], ",")+"]")
	if resp.StatusCode != 200 {
		t.Fatalf("predict: %d %s", resp.StatusCode, b)
	}
	served := decodeJSON[modelapi.PredictResponse](t, b).Predict
	last := inputs[39]
	resp, b = f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", fmt.Sprintf(
		`{"inputs": [{"name": "bill_length_mm", "datatype": "FP64", "shape": [1], "data": [%g]},
		{"name": "species", "datatype": "BYTES", "shape": [1], "data": [%q]},
		{"name": "sex", "datatype": "BYTES", "shape": [1], "data": [%q]}]}`, last.BillLengthMM, last.Species, last.Sex))
	if resp.StatusCode != 200 {
		t.Fatalf("infer: %d %s", resp.StatusCode, b)
	}
	served = append(served, decodeJSON[struct {
		Outputs []struct{ Data []float64 } `json:"outputs"`
	}](t, b).Outputs[0].Data...)
	f.sh.Close() // scores what is waiting

	var sum float64
	for i, in := range inputs {
		sum += served[i] - f.cm.Predict(in)
	}
	r := f.shadowReport(t)
	if r.Status != modelapi.ShadowOK || r.Champion != f.art.Version || r.Challenger != f.challenger.Version || r.Alias != "challenger" || r.SampleRate != 1 {
		t.Fatalf("report %+v", r)
	}
	if r.Records != 40 || r.ScoredTotal != 40 || r.DroppedTotal != 0 {
		t.Errorf("records %d, scored %d, dropped %d; want 40, 40, 0", r.Records, r.ScoredTotal, r.DroppedTotal)
	}
	// The answers are rounded to 4 decimals on the wire.
	if r.MeanDifference == nil || math.Abs(*r.MeanDifference-sum/40) > 1e-3 {
		t.Errorf("mean difference %v, want %v", r.MeanDifference, sum/40)
	}
	var total uint64
	for _, b := range r.Buckets {
		total += b.Count
	}
	if total != 40 || len(r.Quantiles) != 3 {
		t.Errorf("buckets hold %d records, %d quantiles", total, len(r.Quantiles))
	}
	if _, b := f.do(t, http.MethodGet, "/metrics", "", ""); !strings.Contains(string(b),
		fmt.Sprintf(`model_shadow_abs_difference_grams_count{challenger=%q,champion=%q} 40`, f.challenger.Version, f.art.Version)) {
		t.Errorf("/metrics lacks the pair's histogram:\n%s", grepLines(string(b), "model_shadow"))
	}
}

// TestShadowOffAndUnavailable: without a shadow the report says so, and
// with an alias that cannot be loaded the service still serves, and the
// report gives the reason.
func TestShadowOffAndUnavailable(t *testing.T) {
	ck := newChecker(t)
	plain := newCheckedFixture(t, testLimits, ck)
	if r := plain.shadowReport(t); r.Status != modelapi.ShadowOff || !strings.Contains(r.Reason, "MODEL_SHADOW_ALIAS") || r.Champion != plain.art.Version {
		t.Errorf("off: %+v", r)
	}
	f := newShadowFixture(t, ck, false)
	if resp, b := f.predict(t, "", `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`); resp.StatusCode != 200 {
		t.Fatalf("predict without a challenger: %d %s", resp.StatusCode, b)
	}
	r := f.shadowReport(t)
	if r.Status != modelapi.ShadowUnavailable || !strings.Contains(r.Reason, "unknown alias") || r.Records != 0 || r.MeanDifference != nil {
		t.Errorf("unavailable: %+v", r)
	}
	if _, b := f.do(t, http.MethodGet, "/metrics", "", ""); !strings.Contains(string(b), `model_shadow_available{alias="challenger"} 0`) {
		t.Errorf("/metrics:\n%s", grepLines(string(b), "model_shadow"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
