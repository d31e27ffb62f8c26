package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

func TestOIPMetadataAndHealth(t *testing.T) {
	f := newFixture(t, testLimits)
	get := func(path string) (int, []byte) {
		resp, b := f.do(t, http.MethodGet, path, "", "")
		return resp.StatusCode, b
	}
	if code, b := get("/v2"); code != 200 || decodeJSON[modelapi.OIPServerMetadata](t, b).Name != "penguin-model-service" {
		t.Errorf("/v2 = %d %s", code, b)
	}
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/penguin_model/ready", "/v2/models/penguin_model/versions/" + f.art.Version + "/ready"} {
		if code, b := get(p); code != 200 {
			t.Errorf("%s = %d %s", p, code, b)
		}
	}
	for _, p := range []string{"/v2/models/penguin_model", "/v2/models/penguin_model/versions/" + f.art.Version} {
		code, b := get(p)
		md := decodeJSON[modelapi.OIPModelMetadata](t, b)
		if code != 200 || md.Name != "penguin_model" || md.Versions[0] != f.art.Version || len(md.Inputs) != 3 ||
			md.Inputs[0].Datatype != "FP64" || md.Inputs[1].Datatype != "BYTES" || md.Outputs[0].Name != "body_mass_g" {
			t.Errorf("%s = %d %+v", p, code, md)
		}
	}
	for _, p := range []string{"/v2/models/iris", "/v2/models/penguin_model/versions/20200101T000000Z-000000000000", "/v2/models/iris/ready", "/v2/nope"} {
		code, b := get(p)
		if e := decodeJSON[modelapi.OIPError](t, b); code != 404 || e.Error == "" {
			t.Errorf("%s = %d %s", p, code, b)
		}
	}
}

func TestOIPInfer(t *testing.T) {
	f := newFixture(t, testLimits)
	body := `{"id": "req-1", "inputs": [
		{"name": "bill_length_mm", "shape": [2], "datatype": "FP64", "data": [45, 39.1]},
		{"name": "species", "shape": [2], "datatype": "BYTES", "data": ["Gentoo", "Adelie"]},
		{"name": "sex", "shape": [2], "datatype": "BYTES", "data": ["male", "female"]}
	], "outputs": [{"name": "body_mass_g"}, {"name": "body_mass_g_lower_95"}, {"name": "body_mass_g_upper_95"}]}`
	for _, path := range []string{"/v2/models/penguin_model/infer", "/v2/models/penguin_model/versions/" + f.art.Version + "/infer"} {
		resp, b := f.do(t, http.MethodPost, path, "application/json", body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d %s", path, resp.StatusCode, b)
		}
		// Decode the tensors' data as numbers (modelapi leaves it untyped).
		got := decodeJSON[struct {
			ModelName    string `json:"model_name"`
			ModelVersion string `json:"model_version"`
			ID           string `json:"id"`
			Outputs      []struct {
				Name     string
				Shape    []int
				Datatype string
				Data     []float64
			}
		}](t, b)
		if got.ModelName != "penguin_model" || got.ModelVersion != f.art.Version || got.ID != "req-1" || len(got.Outputs) != 3 {
			t.Fatalf("response = %s", b)
		}
		mass := got.Outputs[0]
		if mass.Name != "body_mass_g" || mass.Datatype != "FP64" || mass.Shape[0] != 2 || math.Abs(mass.Data[0]-rFit) > 1e-6 ||
			mass.Data[1] != f.model.Predict(massmodel.Input{BillLengthMM: 39.1, Species: penguins.Adelie, Sex: penguins.Female}) {
			t.Errorf("body_mass_g = %+v", mass)
		}
		if math.Abs(got.Outputs[1].Data[0]-4663.3133665096157) > 1e-6 || math.Abs(got.Outputs[2].Data[0]-5888.014515829851) > 1e-6 {
			t.Errorf("interval = %v %v", got.Outputs[1].Data, got.Outputs[2].Data)
		}
	}
	// Shape [n, 1] with nested data, default output only.
	nested := `{"inputs": [
		{"name": "bill_length_mm", "shape": [1, 1], "datatype": "FP32", "data": [[45]]},
		{"name": "species", "shape": [1, 1], "datatype": "BYTES", "data": [["Gentoo"]]},
		{"name": "sex", "shape": [1, 1], "datatype": "BYTES", "data": [["male"]]}]}`
	resp, b := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", nested)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"name":"body_mass_g"`) || strings.Contains(string(b), "lower") {
		t.Errorf("nested = %d %s", resp.StatusCode, b)
	}
}

// tensor is the JSON of one request tensor.
func tensor(name, dt, shape, data string) string {
	return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": ` + shape + `, "data": ` + data + `}`
}

func TestOIPInferErrors(t *testing.T) {
	f := newFixture(t, testLimits)
	req := func(ts ...string) string { return `{"inputs": [` + strings.Join(ts, ",") + `]}` }
	bill := tensor("bill_length_mm", "FP64", "[1]", "[45]")
	species := tensor("species", "BYTES", "[1]", `["Gentoo"]`)
	sex := tensor("sex", "BYTES", "[1]", `["male"]`)
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"malformed", `{"inputs": [`, 400, "malformed"},
		{"unknown top-level field", `{"inputz": []}`, 400, "unknown field"},
		{"missing input", req(bill, species), 400, "missing input tensor(s) sex"},
		{"unknown input", req(bill, species, sex, tensor("island", "BYTES", "[1]", `["Dream"]`)), 400, `unknown input tensor "island"`},
		{"duplicate input", req(bill, species, sex, sex), 400, "given twice"},
		{"wrong datatype", req(tensor("bill_length_mm", "BYTES", "[1]", `["45"]`), species, sex), 400, "want FP64"},
		{"bad shape", req(tensor("bill_length_mm", "FP64", "[1, 2]", "[45, 46]"), species, sex), 400, "want [n] or [n, 1]"},
		{"shape/data mismatch", req(tensor("bill_length_mm", "FP64", "[2]", "[45]"), species, sex), 400, "holds 2 elements, data has 1"},
		{"row mismatch", req(tensor("bill_length_mm", "FP64", "[2]", "[45, 46]"), species, sex), 400, "other inputs have 2"},
		{"data not array", req(tensor("bill_length_mm", "FP64", "[1]", "45"), species, sex), 400, "must be an array"},
		{"bad values", req(tensor("bill_length_mm", "FP64", "[1]", "[-3]"), tensor("species", "BYTES", "[1]", `["Emperor"]`), sex), 422,
			`/inputs/0/data/0: got -3`},
		{"bad species listed", req(bill, tensor("species", "BYTES", "[1]", `["Emperor"]`), sex), 422, `/inputs/1/data/0: unknown species "Emperor"`},
		{"string number", req(tensor("bill_length_mm", "FP64", "[1]", `["45"]`), species, sex), 422, `/inputs/0/data/0: got a string ("45"), expected a number`},
		{"null and number for strings", req(bill, tensor("species", "BYTES", "[1]", `[5]`), tensor("sex", "BYTES", "[1]", `[null]`)), 422,
			`/inputs/1/data/0: got a number (5), expected one of the species the model was trained on (Adelie, Chinstrap, Gentoo); /inputs/2/data/0: got null`},
		{"overflow", req(tensor("bill_length_mm", "FP64", "[1]", `[1e400]`), species, sex), 422, "/inputs/0/data/0: got 1e400, which overflows a 64-bit float, expected a finite number"},
		{"deeper than the shape", req(tensor("bill_length_mm", "FP64", "[1]", `[[[45]]]`), species, sex), 400, "nested no deeper than its shape"},
		{"output twice", `{"inputs": [` + bill + `,` + species + `,` + sex + `], "outputs": [{"name": "body_mass_g"}, {"name": "body_mass_g"}]}`, 400, "requested twice"},
		{"unknown output", `{"inputs": [` + bill + `,` + species + `,` + sex + `], "outputs": [{"name": "mass"}]}`, 400, `unknown output "mass"`},
		{"wrong content type", req(bill, species, sex), 400, "Content-Type"},
		{"decimal in INT8", req(tensor("bill_length_mm", "INT8", "[1]", "[45.5]"), species, sex), 422,
			"/inputs/0/data/0: got 45.5, which is not INT8, expected an integer from -128 to 127"},
		{"out of INT8's range", req(tensor("bill_length_mm", "INT8", "[1]", "[200]"), species, sex), 422, "got 200, which is not INT8"},
		{"negative in UINT16", req(tensor("bill_length_mm", "UINT16", "[1]", "[-45]"), species, sex), 422, "expected an integer from 0 to 65535"},
		{"exponent in INT64", req(tensor("bill_length_mm", "INT64", "[1]", "[4.5e1]"), species, sex), 422, "got 4.5e1, which is not INT64"},
		{"inputs twice", `{"inputs": [` + bill + `,` + species + `,` + sex + `], "inputs": [` + bill + `]}`, 400,
			`key "inputs" given twice in the top-level object`},
		{"key twice in a tensor", req(bill, species, `{"name": "sex", "name": "sex", "datatype": "BYTES", "shape": [1], "data": ["male"]}`), 400,
			`key "name" given twice in the object at /inputs/2`},
		{"escaped key twice", `{"inputs": [` + bill + `,` + species + `,` + sex + `], "\u0069nputs": []}`, 400, `key "inputs" given twice`},
		{"parameters nested 10,000 deep", `{"parameters": {"a": ` + strings.Repeat(`{"a": `, 10000) + `1` + strings.Repeat("}", 10000) + `}, "inputs": [` + bill + `,` + species + `,` + sex + `]}`, 400,
			"nested more than 32 levels"},
		{"raw control character", `{"id": "a` + "\x01" + `b", "inputs": [` + bill + `,` + species + `,` + sex + `]}`, 400, "control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := "application/json"
			if c.name == "wrong content type" {
				ct = "text/csv"
			}
			resp, b := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", ct, c.body)
			e := decodeJSON[modelapi.OIPError](t, b)
			if resp.StatusCode != c.status || !strings.Contains(e.Error, c.want) {
				t.Errorf("status %d, error %q; want %d containing %q", resp.StatusCode, e.Error, c.status, c.want)
			}
		})
	}
}

// TestPredictAndInferAgree sends the same bad values to /predict and to
// /v2 infer: the two must describe each the same way (only the JSON pointer,
// which follows each body's shape, differs).
func TestPredictAndInferAgree(t *testing.T) {
	f := newFixture(t, testLimits)
	cases := []struct{ bill, species, sex string }{
		{`-3`, `"Gentoo"`, `"male"`},
		{`1e400`, `"Gentoo"`, `"male"`},
		{`"45"`, `"Gentoo"`, `"male"`},
		{`null`, `"Gentoo"`, `"male"`},
		{`45`, `"Emperor"`, `"male"`},
		{`45`, `5`, `"male"`},
		{`45`, `"Gentoo"`, `"unknown"`},
		{`45`, `"Gentoo"`, `true`},
		{`0`, `""`, `{}`},
		{`false`, `{"a": 1}`, `0`},
	}
	for _, c := range cases {
		_, pb := f.predict(t, "", `{"bill_length_mm": `+c.bill+`, "species": `+c.species+`, "sex": `+c.sex+`}`)
		p := decodeJSON[modelapi.Problem](t, pb)
		if len(p.Errors) == 0 {
			t.Errorf("%v: /predict found no error: %s", c, pb)
			continue
		}
		body := `{"inputs": [` + tensor("bill_length_mm", "FP64", "[1]", "["+c.bill+"]") + `,` +
			tensor("species", "BYTES", "[1]", "["+c.species+"]") + `,` + tensor("sex", "BYTES", "[1]", "["+c.sex+"]") + `]}`
		_, ib := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", body)
		e := decodeJSON[modelapi.OIPError](t, ib)
		tensorIndex := map[string]int{"/bill_length_mm": 0, "/species": 1, "/sex": 2}
		for _, fe := range p.Errors {
			fe.Pointer = fmt.Sprintf("/inputs/%d/data/0", tensorIndex[fe.Pointer])
			if !strings.Contains(e.Error, fe.String()) {
				t.Errorf("%v: /v2 says %q; /predict says %q", c, e.Error, fe.String())
			}
		}
	}
}
