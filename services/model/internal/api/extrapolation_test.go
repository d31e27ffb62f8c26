package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// The records of issue 16: a 55 mm Adelie (inside the pooled range, far
// outside the Adelie data), a 45 mm Gentoo (inside everything) and a
// 70 mm Gentoo (outside everything).
const extrapolationBatch = `[{"bill_length_mm": 55, "species": "Adelie", "sex": "male"},
	{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"},
	{"bill_length_mm": 70, "species": "Gentoo", "sex": "female"}]`

// TestExtrapolationWarnings: /predict warns, with and without intervals
// (the leverage then comes from its own computation), with every reason
// that holds and a message that names them; the metric counts each reason.
func TestExtrapolationWarnings(t *testing.T) {
	f := newFixture(t, testLimits)
	for _, query := range []string{"?interval=prediction", ""} {
		resp, b := f.predict(t, query, extrapolationBatch)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, b)
		}
		got := decodeJSON[modelapi.PredictResponse](t, b)
		if len(got.Warnings) != 2 || !slices.Equal(got.ExtrapolatedRows, []int{0, 2}) || got.WarningsTruncated {
			t.Fatalf("%s: warnings %+v, rows %v; want rows 0 and 2", query, got.Warnings, got.ExtrapolatedRows)
		}
		adelie, long := got.Warnings[0], got.Warnings[1]
		if adelie.Row != 0 || adelie.Pointer != "/0/bill_length_mm" ||
			!slices.Equal(adelie.Reasons, []string{modelapi.ReasonSpeciesRange, modelapi.ReasonLeverage}) {
			t.Errorf("%s: 55 mm Adelie: %+v", query, adelie)
		}
		// The words of the example, with the model's own numbers.
		msg := regexp.MustCompile(`^bill_length_mm 55 is outside the Adelie training range \[32\.1, 46\]; ` +
			`leverage 0\.\d+ > 0\.086, the largest in the training data; the prediction is an extrapolation$`)
		if !msg.MatchString(adelie.Message) {
			t.Errorf("%s: 55 mm Adelie message %q", query, adelie.Message)
		}
		if long.Row != 2 || !slices.Equal(long.Reasons, []string{modelapi.ReasonTrainingRange, modelapi.ReasonSpeciesRange, modelapi.ReasonLeverage}) ||
			!strings.HasPrefix(long.Message, "bill_length_mm 70 is outside the training range [32.1, 59.6] and the Gentoo training range [40.9, 59.6]; leverage ") {
			t.Errorf("%s: 70 mm Gentoo: %+v", query, long)
		}
	}
	// The drift window holds the six records: two of three extrapolated.
	if w := f.drift(t).Window; w.Records != 6 || w.Extrapolated == nil || math.Abs(w.Extrapolated.Share-4.0/6) > 1e-12 ||
		math.Abs(w.Extrapolated.ByReason[modelapi.ReasonTrainingRange]-2.0/6) > 1e-12 ||
		math.Abs(w.Extrapolated.ByReason[modelapi.ReasonLeverage]-4.0/6) > 1e-12 {
		t.Errorf("drift window %d records, extrapolated %+v", w.Records, w.Extrapolated)
	}
	_, metrics := f.do(t, http.MethodGet, "/metrics", "", "")
	for _, want := range []string{
		`model_inputs_out_of_range_total{feature="bill_length_mm",reason="training_range"} 2`,
		`model_inputs_out_of_range_total{feature="bill_length_mm",reason="species_range"} 4`,
		`model_inputs_out_of_range_total{feature="bill_length_mm+species+sex",reason="leverage"} 4`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestWarningsCapped: a batch lists at most 100 warnings and says it
// left some out; extrapolated_rows names every flagged row.
func TestWarningsCapped(t *testing.T) {
	f := newFixture(t, testLimits)
	var recs []modelapi.Record
	var want []int
	for i := range 250 {
		r := modelapi.Record{BillLengthMM: 40, Species: "Adelie", Sex: "female"}
		if i%2 == 1 {
			r.BillLengthMM, want = 55, append(want, i)
		}
		recs = append(recs, r)
	}
	body, _ := json.Marshal(recs)
	resp, b := f.predict(t, "", string(body))
	got := decodeJSON[modelapi.PredictResponse](t, b)
	if resp.StatusCode != 200 || len(got.Warnings) != 100 || !got.WarningsTruncated || !slices.Equal(got.ExtrapolatedRows, want) {
		t.Fatalf("%d: %d warnings, truncated %v, rows %v", resp.StatusCode, len(got.Warnings), got.WarningsTruncated, got.ExtrapolatedRows)
	}
	if w := got.Warnings[99]; w.Row != want[99] || w.Pointer != fmt.Sprintf("/%d/bill_length_mm", want[99]) {
		t.Errorf("the last warning listed: %+v, want row %d", w, want[99])
	}
}

// TestNoTrainingRowIsAnExtrapolation: the rows the model was fitted to,
// sent back, draw no warning.
func TestNoTrainingRowIsAnExtrapolation(t *testing.T) {
	f := newFixture(t, testLimits)
	var recs []modelapi.Record
	for _, o := range f.art.Observations {
		recs = append(recs, modelapi.Record{BillLengthMM: o.BillLengthMM, Species: o.Species, Sex: o.Sex})
	}
	body, _ := json.Marshal(recs)
	for _, query := range []string{"?interval=prediction", ""} {
		resp, b := f.predict(t, query, string(body))
		got := decodeJSON[modelapi.PredictResponse](t, b)
		if resp.StatusCode != 200 || len(got.Predict) != len(recs) || got.Warnings != nil {
			t.Errorf("%s: %d, %d predictions, warnings %+v", query, resp.StatusCode, len(got.Predict), got.Warnings)
		}
	}
}

// TestOIPExtrapolation: /v2 counts the extrapolated records, and each
// reason, in the response's parameters.
func TestOIPExtrapolation(t *testing.T) {
	f := newFixture(t, testLimits)
	body := `{"inputs": [
		{"name": "bill_length_mm", "shape": [3], "datatype": "FP64", "data": [55, 45, 70]},
		{"name": "species", "shape": [3], "datatype": "BYTES", "data": ["Adelie", "Gentoo", "Gentoo"]},
		{"name": "sex", "shape": [3], "datatype": "BYTES", "data": ["male", "male", "female"]}]}`
	resp, b := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got := decodeJSON[struct {
		Parameters struct {
			Out      int                `json:"out_of_training_range"`
			Reasons  map[string]int     `json:"extrapolation_reasons"`
			Rows     []int              `json:"extrapolated_rows"`
			Warnings []modelapi.Warning `json:"warnings"`
		}
	}](t, b)
	if ws := got.Parameters.Warnings; !slices.Equal(got.Parameters.Rows, []int{0, 2}) || len(ws) != 2 ||
		ws[0].Pointer != "/inputs/0/data/0" || ws[1].Pointer != "/inputs/0/data/2" ||
		!strings.HasPrefix(ws[0].Message, "bill_length_mm 55 is outside the Adelie training range [32.1, 46]; leverage ") ||
		!slices.Equal(ws[1].Reasons, []string{modelapi.ReasonTrainingRange, modelapi.ReasonSpeciesRange, modelapi.ReasonLeverage}) {
		t.Errorf("rows and warnings: %s", b)
	}
	want := map[string]int{modelapi.ReasonTrainingRange: 1, modelapi.ReasonSpeciesRange: 2, modelapi.ReasonLeverage: 2}
	if got.Parameters.Out != 2 || len(got.Parameters.Reasons) != len(want) {
		t.Fatalf("parameters %s", b)
	}
	for r, n := range want {
		if got.Parameters.Reasons[r] != n {
			t.Errorf("%s: %d, want %d (%s)", r, got.Parameters.Reasons[r], n, b)
		}
	}
}

// TestExtrapolationOfTheReleasedArtifact: the released artifact predates
// the domain; it loads, checks the pooled range only, and /metadata says
// so.
func TestExtrapolationOfTheReleasedArtifact(t *testing.T) {
	a, m, err := massmodel.Store{Dir: "../../../../deploy/models"}.Load(massmodel.Name, "20261126T190011Z-43843ab108a1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, testLimits)
	if err := f.srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "board"}); err != nil {
		t.Fatal(err)
	}
	_, b := f.predict(t, "", extrapolationBatch)
	got := decodeJSON[modelapi.PredictResponse](t, b)
	if len(got.Warnings) != 1 || got.Warnings[0].Row != 2 || !slices.Equal(got.Warnings[0].Reasons, []string{modelapi.ReasonTrainingRange}) ||
		got.Warnings[0].Message != "bill_length_mm 70 is outside the training range [32.1, 59.6]; the prediction is an extrapolation" {
		t.Errorf("warnings %+v, want the 70 mm record's, pooled only", got.Warnings)
	}
	_, b = f.do(t, http.MethodGet, "/metadata", "", "")
	md := decodeJSON[modelapi.Metadata](t, b)
	if md.Domain != nil || md.Extrapolation.Check != modelapi.ExtrapolationPooled ||
		!slices.Equal(md.Extrapolation.Reasons, []string{modelapi.ReasonTrainingRange}) ||
		!strings.Contains(md.Extrapolation.Detail, "predates stored per-species ranges") {
		t.Errorf("metadata of the released artifact: domain %+v, extrapolation %+v", md.Domain, md.Extrapolation)
	}
	_, b = f.do(t, http.MethodGet, "/prototype", "", "")
	if strings.Contains(string(b), "x-training-range-by-species") {
		t.Errorf("the released artifact's prototype has species ranges: %s", b)
	}
}

// TestExtrapolationCheckInMetadata: a new artifact's /metadata carries its
// domain and says the check is joint, by the reasons warnings give; and
// those are the names the model and the metrics use.
func TestExtrapolationCheckInMetadata(t *testing.T) {
	f := newFixture(t, testLimits)
	_, b := f.do(t, http.MethodGet, "/metadata", "", "")
	md := decodeJSON[modelapi.Metadata](t, b)
	if md.Domain == nil || md.Domain.MaxLeverage != f.art.Domain.MaxLeverage || len(md.Domain.BillLength) != 3 ||
		md.Domain.BillLength[0] != (modelapi.SpeciesRange{Species: "Adelie", Min: 32.1, Max: 46}) {
		t.Errorf("domain %+v", md.Domain)
	}
	want := []string{modelapi.ReasonTrainingRange, modelapi.ReasonSpeciesRange, modelapi.ReasonLeverage}
	if md.Extrapolation.Check != modelapi.ExtrapolationJoint || !slices.Equal(md.Extrapolation.Reasons, want) ||
		!strings.Contains(md.Extrapolation.Detail, "0.08593") {
		t.Errorf("extrapolation %+v", md.Extrapolation)
	}
	for i, r := range reasonBits {
		if r.String() != want[i] {
			t.Errorf("reason %d is %q in the model, %q in the API", i, r, want[i])
		}
	}
}

// TestPrototypeRangesBySpecies: /prototype gives each species' training
// range of bill length.
func TestPrototypeRangesBySpecies(t *testing.T) {
	f := newFixture(t, testLimits)
	_, b := f.do(t, http.MethodGet, "/prototype", "", "")
	var proto struct {
		OneOf []struct {
			Properties struct {
				Bill struct {
					Description string                        `json:"description"`
					BySpecies   map[string]map[string]float64 `json:"x-training-range-by-species"`
				} `json:"bill_length_mm"`
			} `json:"properties"`
		} `json:"oneOf"`
	}
	if err := json.Unmarshal(b, &proto); err != nil || len(proto.OneOf) != 2 {
		t.Fatalf("%v: %s", err, b)
	}
	for _, form := range proto.OneOf {
		bill := form.Properties.Bill
		for _, r := range f.art.Domain.BillLength {
			if got := bill.BySpecies[r.Species]; got["min"] != r.Min || got["max"] != r.Max || len(got) != 2 {
				t.Errorf("%s: %v, want [%v, %v]", r.Species, got, r.Min, r.Max)
			}
		}
		if !strings.Contains(bill.Description, "Adelie 32.1 to 46, Chinstrap 40.9 to 58, Gentoo 40.9 to 59.6") {
			t.Errorf("description %q", bill.Description)
		}
	}
}
