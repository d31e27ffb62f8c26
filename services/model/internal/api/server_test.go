package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"

	"github.com/palmerops/penguins/pkg/service"
)

var testLimits = Limits{MaxBodyBytes: 1 << 20, MaxRows: 1000}

// fixture is a real server over a real listener, serving the model trained
// from the embedded data.
type fixture struct {
	srv   *Server
	ts    *httptest.Server
	model *massmodel.Model
	art   *massmodel.Artifact
	logs  *observer.ObservedLogs
}

func newFixture(t *testing.T, limits Limits) *fixture {
	t.Helper()
	return newCheckedFixture(t, limits, newChecker(t))
}

// newCheckedFixture is newFixture whose traffic ck checks against
// openapi.json.
func newCheckedFixture(t *testing.T, limits Limits, ck *checker) *fixture {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := New(zap.New(core), limits, buildinfo.Info{Version: "test", GoVersion: "go"})
	if err != nil {
		t.Fatal(err)
	}
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
		t.Fatal(err)
	}
	ts := ck.server(srv.Handler())
	return &fixture{srv: srv, ts: ts, model: m, art: a, logs: logs}
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (f *fixture) predict(t *testing.T, query, body string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, http.MethodPost, "/predict"+query, "application/json", body)
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// rFit is R's predict(lm(...)) for bill 45, Gentoo, male (see massmodel tests).
const rFit = 5275.6639411697333

func TestPredictBothFormsAgree(t *testing.T) {
	f := newFixture(t, testLimits)
	cases := map[string]string{
		"raw object":       `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`,
		"one-hot object":   `{"bill_length_mm": 45.0, "species_Chinstrap": false, "species_Gentoo": true, "sex_male": true}`,
		"one-hot with 0/1": `{"bill_length_mm": 45.0, "species_Chinstrap": 0, "species_Gentoo": 1, "sex_male": 1}`,
		"raw array":        `[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}]`,
		"field order":      `{"sex": "male", "species": "Gentoo", "bill_length_mm": 4.5e1}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			resp, b := f.predict(t, "", body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			// The book's client reads r.json()["predict"][0].
			got := decodeJSON[modelapi.PredictResponse](t, b)
			if len(got.Predict) != 1 || math.Abs(got.Predict[0]-rFit) > 1e-6 {
				t.Fatalf("predict = %v, want [%v]", got.Predict, rFit)
			}
			if got.Version != f.art.Version || resp.Header.Get("X-Model-Version") != f.art.Version || got.Model != "penguin_model" {
				t.Errorf("version %q / header %q, want %q", got.Version, resp.Header.Get("X-Model-Version"), f.art.Version)
			}
			if got.Interval != nil || got.Contributions != nil || got.Warnings != nil {
				t.Errorf("unrequested extras: %s", b)
			}
		})
	}
	// A mixed batch in both forms, including every species and sex.
	body := `[
		{"bill_length_mm": 39.1, "species": "Adelie", "sex": "male"},
		{"bill_length_mm": 46.5, "species_Chinstrap": true, "species_Gentoo": false, "sex_male": false},
		{"bill_length_mm": 50, "species": "Gentoo", "sex": "female"},
		{"bill_length_mm": 40, "species_Chinstrap": false, "species_Gentoo": false, "sex_male": false}
	]`
	resp, b := f.predict(t, "", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	got := decodeJSON[modelapi.PredictResponse](t, b)
	want := []massmodel.Input{
		{BillLengthMM: 39.1, Species: penguins.Adelie, Sex: penguins.Male},
		{BillLengthMM: 46.5, Species: penguins.Chinstrap, Sex: penguins.Female},
		{BillLengthMM: 50, Species: penguins.Gentoo, Sex: penguins.Female},
		{BillLengthMM: 40, Species: penguins.Adelie, Sex: penguins.Female},
	}
	for i, in := range want {
		if got.Predict[i] != f.model.Predict(in) {
			t.Errorf("row %d: %v, want %v", i, got.Predict[i], f.model.Predict(in))
		}
	}
}

func TestPredictIntervalsContributionsWarnings(t *testing.T) {
	f := newFixture(t, testLimits)
	resp, b := f.predict(t, "?interval=prediction&contributions=true",
		`[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": 70, "species": "Adelie", "sex": "female"}]`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	got := decodeJSON[modelapi.PredictResponse](t, b)
	// R: predict(m, ..., interval = "prediction") gives [4663.3133665096157, 5888.014515829851].
	if got.Interval == nil || got.Interval.Level != 0.95 ||
		math.Abs(got.Interval.Lower[0]-4663.3133665096157) > 1e-6 || math.Abs(got.Interval.Upper[0]-5888.014515829851) > 1e-6 {
		t.Errorf("interval = %+v", got.Interval)
	}
	if len(got.Contributions) != 2 || len(got.Contributions[0]) != massmodel.P {
		t.Fatalf("contributions = %v", got.Contributions)
	}
	var sum float64
	for _, v := range got.Contributions[0] {
		sum += v
	}
	if math.Abs(sum-got.Predict[0]) > 1e-9 || got.Contributions[0]["speciesGentoo"] != f.art.Coefficients[3].Estimate {
		t.Errorf("contributions %v do not add up to %v", got.Contributions[0], got.Predict[0])
	}
	// 70 mm is plausible but outside the training range [32.1, 59.6] (and
	// the Adelie range, and its leverage is high): predicted, and flagged.
	if len(got.Warnings) != 1 || got.Warnings[0].Row != 1 || got.Warnings[0].Pointer != "/1/bill_length_mm" ||
		!strings.Contains(got.Warnings[0].Message, "outside the training range [32.1, 59.6]") {
		t.Errorf("warnings = %+v", got.Warnings)
	}
	if got.Predict[1] != f.model.Predict(massmodel.Input{BillLengthMM: 70, Species: penguins.Adelie, Sex: penguins.Female}) {
		t.Error("out-of-range record was not predicted")
	}
	_, metrics := f.do(t, http.MethodGet, "/metrics", "", "")
	for _, want := range []string{
		`model_inputs_out_of_range_total{feature="bill_length_mm",reason="training_range"} 1`,
		`model_predictions_total{endpoint="predict"} 2`,
		`model_predicted_body_mass_grams_count 2`,
		`http_requests_total{code="200",method="POST",route="/predict"} 1`,
		`http_request_duration_seconds_count{code="200",method="POST",route="/predict"} 1`,
		`model_info{content_sha256="` + f.art.ContentSHA256 + `",version="` + f.art.Version + `"} 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestPredictBadInput(t *testing.T) {
	f := newFixture(t, Limits{MaxBodyBytes: 4096, MaxRows: 3})
	type fe struct{ pointer, detail string }
	cases := []struct {
		name, ctype, query, body string
		status                   int
		slug                     string
		errs                     []fe // each must be listed (pointer, detail substring)
	}{
		{name: "malformed", body: `{"bill_length_mm": 45,`, status: 400, slug: "malformed-json"},
		{name: "not json", body: `bill_length_mm=45`, status: 400, slug: "malformed-json"},
		{name: "NaN literal", body: `{"bill_length_mm": NaN, "species": "Gentoo", "sex": "male"}`, status: 400, slug: "malformed-json"},
		{name: "trailing garbage", body: `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"} x`, status: 400, slug: "malformed-json"},
		{name: "empty body", body: ``, status: 400, slug: "malformed-json"},
		{name: "deep nesting", body: strings.Repeat("[", 3000), status: 400, slug: "malformed-json"},
		{name: "deep nesting in a string is fine", body: `{"bill_length_mm": 45, "species": "` + strings.Repeat("[", 100) + `", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/species", "unknown species"}}},
		{name: "form content type", ctype: "application/x-www-form-urlencoded", body: `{}`, status: 400, slug: "unsupported-media-type"},
		{name: "text content type", ctype: "text/plain", body: `{}`, status: 400, slug: "unsupported-media-type"},
		{name: "latin1 charset", ctype: "application/json; charset=iso-8859-1", body: `{}`, status: 400, slug: "unsupported-media-type"},
		{name: "bad interval", query: "?interval=confidence", body: `{}`, status: 400, slug: "bad-query"},
		{name: "unknown query", query: "?foo=1", body: `{}`, status: 400, slug: "bad-query"},
		{name: "bad escape in the query", query: "?interval=%zz", body: `{}`, status: 400, slug: "bad-query"},
		{name: "semicolon in the query", query: "?interval=prediction;contributions=true", body: `{}`, status: 400, slug: "bad-query"},
		{name: "parameter twice", query: "?interval=none&interval=prediction", body: `{}`, status: 400, slug: "bad-query"},
		{name: "too large", body: `[` + strings.Repeat(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"},`, 80) + `{}]`, status: 413, slug: "body-too-large"},
		{name: "overflow to Inf", body: `{"bill_length_mm": 1e999, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "got 1e999, which overflows a 64-bit float"}}},
		{name: "negative", body: `{"bill_length_mm": -45, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "got -45"}}},
		{name: "zero", body: `{"bill_length_mm": 0, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "got 0"}}},
		{name: "absurd", body: `{"bill_length_mm": 4500, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "got 4500"}}},
		{name: "string number", body: `{"bill_length_mm": "45", "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", `got a string ("45")`}}},
		{name: "null", body: `{"bill_length_mm": null, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "got null"}}},
		{name: "unknown species and sex", body: `{"bill_length_mm": 45, "species": "Emperor", "sex": "M"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/species", `unknown species "Emperor"`}, {"/sex", `unknown sex "M"`}}},
		{name: "species case", body: `{"bill_length_mm": 45, "species": "gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/species", `unknown species "gentoo"`}}},
		{name: "empty array", body: `[]`, status: 422, slug: "invalid-input", errs: []fe{{"", "empty array"}}},
		{name: "empty object", body: `{}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "missing"}, {"/species", "missing"}, {"/sex", "missing"}}},
		{name: "too many rows", body: `[{},{},{},{}]`, status: 422, slug: "invalid-input", errs: []fe{{"", "4 records"}}},
		{name: "top-level number", body: `42`, status: 422, slug: "invalid-input", errs: []fe{{"", "got a number (42)"}}},
		{name: "top-level null", body: `null`, status: 422, slug: "invalid-input", errs: []fe{{"", "got null"}}},
		{name: "array of non-objects", body: `[1, "a"]`, status: 422, slug: "invalid-input",
			errs: []fe{{"/0", "got a number (1)"}, {"/1", `got a string ("a")`}}},
		{name: "mixed forms", body: `{"bill_length_mm": 45, "species": "Gentoo", "sex_male": true}`, status: 422, slug: "invalid-input",
			errs: []fe{{"", "mixes the raw form"}}},
		{name: "unknown fields named", body: `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male", "island": "Biscoe", "a/b": 1}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/island", `unknown field "island"`}, {"/a~1b", `unknown field "a/b"`}}},
		{name: "duplicate field", body: `{"bill_length_mm": 45, "bill_length_mm": 46, "species": "Gentoo", "sex": "male"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/bill_length_mm", "duplicate field"}}},
		{name: "two species", body: `{"bill_length_mm": 45, "species_Chinstrap": true, "species_Gentoo": true, "sex_male": true}`, status: 422, slug: "invalid-input",
			errs: []fe{{"", "both true"}}},
		{name: "one-hot missing and bad", body: `{"bill_length_mm": 45, "species_Gentoo": "yes"}`, status: 422, slug: "invalid-input",
			errs: []fe{{"/species_Gentoo", `got a string ("yes")`}, {"/species_Chinstrap", "missing"}, {"/sex_male", "missing"}}},
		{name: "every bad record listed", body: `[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": -1, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": 45, "species": "Kiwi", "sex": "x"}]`,
			status: 422, slug: "invalid-input",
			errs: []fe{{"/1/bill_length_mm", "got -1"}, {"/2/species", "Kiwi"}, {"/2/sex", `"x"`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctype := c.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			resp, b := f.do(t, http.MethodPost, "/predict"+c.query, ctype, c.body, "X-Request-ID", "req-"+strings.ReplaceAll(c.name, " ", "-"))
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			p := decodeJSON[modelapi.Problem](t, b)
			if p.Type != "/docs#problem-"+c.slug || p.Status != c.status || p.Title == "" || p.Detail == "" || p.Instance != "/predict" {
				t.Errorf("problem = %+v", p)
			}
			if p.RequestID != resp.Header.Get("X-Request-ID") || !strings.HasPrefix(p.RequestID, "req-") {
				t.Errorf("request id %q, header %q", p.RequestID, resp.Header.Get("X-Request-ID"))
			}
			for _, w := range c.errs {
				found := false
				for _, e := range p.Errors {
					if e.Pointer == w.pointer && strings.Contains(e.Detail, w.detail) && e.Expected != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("no error at %q containing %q in %+v", w.pointer, w.detail, p.Errors)
				}
			}
			if len(c.errs) > 0 && len(p.Errors) != len(c.errs) {
				t.Errorf("%d errors listed, want %d: %+v", len(p.Errors), len(c.errs), p.Errors)
			}
		})
	}
	// A body of no stated length (chunked) is counted as it arrives: over
	// the limit it is a 413 too, and within it, it is read whole.
	rec := `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`
	for _, c := range []struct {
		body   string
		status int
	}{
		{`[` + strings.Repeat(rec+`,`, 80) + rec + `]`, 413},
		{`[` + rec + `,` + rec + `]`, 200},
	} {
		req, err := http.NewRequest(http.MethodPost, f.ts.URL+"/predict", io.MultiReader(strings.NewReader(c.body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if req.ContentLength != 0 || len(req.TransferEncoding) != 0 {
			t.Fatalf("the request states a length (%d, %v): not chunked", req.ContentLength, req.TransferEncoding)
		}
		if resp.StatusCode != c.status {
			t.Errorf("chunked body of %d bytes: status %d, want %d: %s", len(c.body), resp.StatusCode, c.status, b)
		}
	}
	// Allowed values are listed for categorical fields.
	_, b := f.predict(t, "", `{"bill_length_mm": 45, "species": "Emperor", "sex": "male"}`)
	if p := decodeJSON[modelapi.Problem](t, b); fmt.Sprint(p.Errors[0].Allowed) != "[Adelie Chinstrap Gentoo]" {
		t.Errorf("allowed = %v", p.Errors[0].Allowed)
	}
	// Nothing broke: the server still predicts.
	if resp, b := f.predict(t, "", `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`); resp.StatusCode != 200 {
		t.Fatalf("after bad input: %d %s", resp.StatusCode, b)
	}
}

// TestErrorListIsCapped: the field errors listed stop at maxListedErrors
// or maxListedBytes, whichever comes first; the detail counts them all.
func TestErrorListIsCapped(t *testing.T) {
	f := newFixture(t, Limits{MaxBodyBytes: 1 << 20, MaxRows: 1000})
	batch := func(rec string) string { return "[" + strings.TrimSuffix(strings.Repeat(rec+",", 500), ",") + "]" }
	for _, c := range []struct {
		name, body string
		byCount    bool // the count cap is reached before the size cap
	}{
		{"missing sex", batch(`{"bill_length_mm": 45, "species": "Gentoo"}`), true},
		{"negative bill", batch(`{"bill_length_mm": -1, "species": "Gentoo", "sex": "male"}`), false},
	} {
		resp, b := f.predict(t, "", c.body)
		p := decodeJSON[modelapi.Problem](t, b)
		listed, _ := json.Marshal(p.Errors)
		if resp.StatusCode != 422 || !p.ErrorsTruncated || !strings.Contains(p.Detail, "500 invalid field(s) in 500 record(s)") ||
			len(p.Errors) > maxListedErrors || len(listed) > maxListedBytes || (len(p.Errors) == maxListedErrors) != c.byCount {
			t.Errorf("%s: status %d, %d errors in %d bytes, truncated %v, detail %q", c.name, resp.StatusCode, len(p.Errors), len(listed), p.ErrorsTruncated, p.Detail)
		}
	}
}

func TestReadiness(t *testing.T) {
	core, _ := observer.New(zapcore.InfoLevel)
	srv, err := New(zap.New(core), testLimits, buildinfo.Info{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := newChecker(t).server(srv.Handler())
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Before a model is loaded: alive, not ready, predictions refused.
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz before load = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "loading") {
		t.Errorf("readyz before load = %d %s", code, body)
	}
	for _, p := range []string{"/v2/health/ready", "/v2/models/penguin_model/ready", "/metadata", "/prototype", "/diagnostics"} {
		if code, _ := get(p); code != 503 {
			t.Errorf("%s before load = %d, want 503", p, code)
		}
	}
	resp, err := http.Post(ts.URL+"/predict", "application/json", strings.NewReader(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("predict before load = %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, a.Version) {
		t.Errorf("readyz after load = %d %s", code, body)
	}
	srv.SetDraining()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining = %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz while draining = %d", code)
	}
}

func TestRequestIDAndLogs(t *testing.T) {
	f := newFixture(t, testLimits)
	resp, _ := f.do(t, http.MethodPost, "/predict", "application/json", `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`, "X-Request-ID", "abc-123")
	if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("echoed id = %q", got)
	}
	for _, msg := range []string{"prediction requested", "prediction returned", "request"} {
		entries := f.logs.FilterMessage(msg).Filter(func(e observer.LoggedEntry) bool { return e.ContextMap()["request_id"] == "abc-123" }).All()
		if len(entries) != 1 {
			t.Errorf("%d %q log entries with the request id", len(entries), msg)
		}
	}
	access := f.logs.FilterMessage("request").Filter(func(e observer.LoggedEntry) bool { return e.ContextMap()["request_id"] == "abc-123" }).All()[0].ContextMap()
	if access["route"] != "/predict" || fmt.Sprint(access["status"]) != "200" || access["method"] != "POST" || access["latency_ms"] == nil {
		t.Errorf("access log = %v", access)
	}
	in, out := predictionRecordOf(t, f.logs.FilterMessage("prediction returned").All()[0])
	returned := f.logs.FilterMessage("prediction returned").All()[0].ContextMap()
	if returned["model_version"] != f.art.Version || !reflect.DeepEqual(in.Bill, []float64{45}) ||
		!reflect.DeepEqual(in.Species, []string{"Gentoo"}) || !reflect.DeepEqual(in.Sex, []string{"male"}) ||
		len(out.Mass) != 1 || math.Abs(out.Mass[0]-rFit) > 1e-6 || out.Lower != nil {
		t.Errorf("prediction returned log = %v %+v %+v", returned, in, out)
	}
	// A forged or absent id is replaced by a fresh one.
	for _, id := range []string{"", "bad id with spaces", "quote\"s", strings.Repeat("x", 200)} {
		resp, _ := f.do(t, http.MethodGet, "/ping", "", "", "X-Request-ID", id)
		if got := resp.Header.Get("X-Request-ID"); len(got) != 32 {
			t.Errorf("id for %q = %q, want a fresh 32-hex id", id, got)
		}
	}
	// Rejections are logged with their content.
	f.predict(t, "", `{"bill_length_mm": 45, "species": "Emperor", "sex": "male"}`)
	rej := f.logs.FilterMessage("request rejected").All()
	if len(rej) != 1 || !strings.Contains(fmt.Sprint(rej[0].ContextMap()["errors"]), "Emperor") {
		t.Errorf("rejection log = %v", rej)
	}
}

type recordIn struct {
	Bill    []float64 `json:"bill_length_mm"`
	Species []string  `json:"species"`
	Sex     []string  `json:"sex"`
}

type recordOut struct {
	Mass  []float64 `json:"body_mass_g"`
	Lower []float64 `json:"body_mass_g_lower_95"`
	Upper []float64 `json:"body_mass_g_upper_95"`
}

// predictionRecordOf decodes the inputs and outputs of a "prediction
// returned" entry, strictly: the columns must be valid JSON with no other
// keys.
func predictionRecordOf(t *testing.T, e observer.LoggedEntry) (recordIn, recordOut) {
	t.Helper()
	m := e.ContextMap()
	var in recordIn
	var out recordOut
	for key, dst := range map[string]any{"inputs": &in, "outputs": &out} {
		b, err := json.Marshal(m[key])
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("%s %s: %v", key, b, err)
		}
	}
	return in, out
}

// TestPredictionRecords checks that the log holds every input and output of
// a batch, in lines of at most recordRowsPerLine records, and that the
// records agree with the response.
func TestPredictionRecords(t *testing.T) {
	f := newFixture(t, testLimits)
	const n = 2*recordRowsPerLine + 7
	_, body := f.do(t, http.MethodPost, "/predict?interval=prediction", "application/json", string(batchBody(n)), "X-Request-ID", "batch-1")
	var resp modelapi.PredictResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	var sent []map[string]any
	if err := json.Unmarshal(batchBody(n), &sent); err != nil {
		t.Fatal(err)
	}
	lines := f.logs.FilterMessage("prediction returned").Filter(func(e observer.LoggedEntry) bool {
		return e.ContextMap()["request_id"] == "batch-1"
	}).All()
	if len(lines) != 3 {
		t.Fatalf("%d prediction returned lines for %d rows, want 3", len(lines), n)
	}
	row := 0
	for i, l := range lines {
		m := l.ContextMap()
		if fmt.Sprint(m["first_row"]) != fmt.Sprint(i*recordRowsPerLine) || fmt.Sprint(m["rows"]) != fmt.Sprint(n) {
			t.Errorf("line %d: first_row %v rows %v", i, m["first_row"], m["rows"])
		}
		in, out := predictionRecordOf(t, l)
		for j := range in.Bill {
			wantSpecies := "Adelie"
			if sent[row]["species_Chinstrap"] == true {
				wantSpecies = "Chinstrap"
			} else if sent[row]["species_Gentoo"] == true {
				wantSpecies = "Gentoo"
			}
			wantSex := "female"
			if sent[row]["sex_male"] == true {
				wantSex = "male"
			}
			if in.Bill[j] != sent[row]["bill_length_mm"] || in.Species[j] != wantSpecies || in.Sex[j] != wantSex ||
				out.Mass[j] != resp.Predict[row] || out.Lower[j] != resp.Interval.Lower[row] || out.Upper[j] != resp.Interval.Upper[row] {
				t.Errorf("record %d = %v %v %v %v [%v, %v]; sent %v, answered %v [%v, %v]", row, in.Bill[j], in.Species[j], in.Sex[j],
					out.Mass[j], out.Lower[j], out.Upper[j], sent[row], resp.Predict[row], resp.Interval.Lower[row], resp.Interval.Upper[row])
			}
			row++
		}
		if len(in.Species) != len(in.Bill) || len(in.Sex) != len(in.Bill) || len(out.Mass) != len(in.Bill) ||
			len(out.Lower) != len(in.Bill) || len(out.Upper) != len(in.Bill) {
			t.Errorf("line %d: columns of unequal length: %+v %+v", i, in, out)
		}
	}
	if row != n {
		t.Errorf("%d records logged for %d rows", row, n)
	}
}

func TestInfoRoutes(t *testing.T) {
	f := newFixture(t, testLimits)
	if resp, b := f.do(t, http.MethodGet, "/ping", "", ""); resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"ping":"pong"}` {
		t.Errorf("/ping = %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, http.MethodGet, "/healthz", "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("/healthz = %d %s", resp.StatusCode, b)
	}
	resp, b := f.do(t, http.MethodGet, "/metadata", "", "")
	md := decodeJSON[modelapi.Metadata](t, b)
	if resp.StatusCode != 200 || md.Version != f.art.Version || md.ContentSHA256 != f.art.ContentSHA256 ||
		md.Coefficients[1].Estimate != f.art.Coefficients[1].Estimate || md.Data.TrainingRows != 333 ||
		md.Serving.LoadedFrom != "test" || md.Serving.MaxRows != testLimits.MaxRows || md.Serving.Service.Version != "test" {
		t.Errorf("/metadata = %d %+v", resp.StatusCode, md)
	}
	// /metadata and /diagnostics together carry the whole artifact: the
	// metadata read as an artifact, with the diagnostics' rows as its
	// observations, passes the artifact's own content hash and checks.
	var art massmodel.Artifact
	if err := json.Unmarshal(b, &art); err != nil {
		t.Fatal(err)
	}
	resp, b = f.do(t, http.MethodGet, "/diagnostics", "", "")
	diag := decodeJSON[modelapi.Diagnostics](t, b)
	if resp.StatusCode != 200 || !diag.Available || diag.Source != "artifact" || diag.Version != f.art.Version || len(diag.Rows) != 333 {
		t.Fatalf("/diagnostics = %d, available %v from %q, %d rows", resp.StatusCode, diag.Available, diag.Source, len(diag.Rows))
	}
	for i, r := range diag.Rows {
		art.Observations = append(art.Observations, massmodel.Observation{BillLengthMM: r.BillLengthMM, Species: r.Species, Sex: r.Sex, BodyMassG: r.BodyMassG})
		sp, _ := penguins.ParseSpecies(r.Species)
		sex, _ := penguins.ParseSex(r.Sex)
		if want := f.model.Predict(massmodel.Input{BillLengthMM: r.BillLengthMM, Species: sp, Sex: sex}); r.Fitted != want || r.Residual != r.BodyMassG-want {
			t.Fatalf("row %d: %+v, want fitted %v as /predict computes it", i, r, want)
		}
	}
	if _, err := art.Verify(); err != nil {
		t.Errorf("/metadata with /diagnostics' rows does not verify as the artifact: %v", err)
	}
	resp, b = f.do(t, http.MethodGet, "/prototype", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/schema+json" ||
		!strings.Contains(string(b), `"x-training-range":{"max":59.6,"mean":`) {
		t.Errorf("/prototype = %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, http.MethodGet, "/docs", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "/predict") {
		t.Errorf("/docs = %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/", nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/docs" {
		t.Errorf("/ = %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, b = f.do(t, http.MethodGet, "/nope", "", "")
	if p := decodeJSON[modelapi.Problem](t, b); resp.StatusCode != 404 || p.Type != "/docs#problem-not-found" {
		t.Errorf("/nope = %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, http.MethodGet, "/predict", "", "")
	if p := decodeJSON[modelapi.Problem](t, b); resp.StatusCode != 405 || p.Type != "/docs#problem-method-not-allowed" {
		t.Errorf("GET /predict = %d %s", resp.StatusCode, b)
	}
}

// TestOpenAPIMatchesRoutes proves every documented route exists and every
// route is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t, testLimits)
	_, b := f.do(t, http.MethodGet, "/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Info    struct{ Version string }              `json:"info"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") || doc.Info.Version != "test" {
		t.Errorf("openapi %q, info.version %q", doc.OpenAPI, doc.Info.Version)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	// Every GET route answers HEAD, which the document says once rather
	// than as an operation per path.
	if missing := service.GetWithoutHead(f.srv.Echo()); len(missing) > 0 {
		t.Errorf("GET routes without HEAD: %v", missing)
	}
	routed := map[string]bool{}
	for _, r := range f.srv.Echo().Routes() {
		if r.Method == http.MethodHead {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		routed[r.Method+" "+strings.Join(segs, "/")] = true
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not documented", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("documented %s has no route", d)
		}
	}
	if len(routed) < 19 {
		t.Errorf("only %d routes", len(routed))
	}
}

// TestAccessLogTrustsOnlyConfiguredProxies: X-Forwarded-For and X-Real-IP
// name the client in the access log only when the peer is a trusted
// proxy; by default the peer is logged. Before, any client could write
// any address into the log.
func TestAccessLogTrustsOnlyConfiguredProxies(t *testing.T) {
	var loopback service.IPRanges
	if err := loopback.Decode("127.0.0.0/8,::1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		trusted service.IPRanges
		want    string
	}{{nil, "127.0.0.1"}, {loopback, "198.51.100.7"}} {
		core, logs := observer.New(zapcore.InfoLevel)
		srv, err := New(zap.New(core), testLimits, buildinfo.Info{Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if c.trusted != nil {
			srv.TrustProxies(c.trusted)
		}
		ts := httptest.NewServer(srv.Handler())
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		req.Header.Set("X-Real-IP", "198.51.100.8")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ts.Close()
		if got := logs.FilterMessage("request").All()[0].ContextMap()["remote"]; got != c.want {
			t.Errorf("trusting %v: remote %v, want %s", c.trusted, got, c.want)
		}
	}
}
