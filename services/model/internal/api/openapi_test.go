package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

// TestOpenAPIDocumentIsValid checks openapi.json against the OpenAPI 3.1
// specification's own schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := c.v.ValidateDocument(); !ok {
		for _, e := range validationErrors("openapi.json", errs) {
			t.Error(e)
		}
	}
}

// TestOpenAPIExamplesMatchTheirSchemas: every example the document (and so
// /docs) shows is valid against the schema it illustrates.
func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	check := func(where string, schema *base.SchemaProxy, node *yaml.Node) {
		if schema == nil || node == nil {
			return
		}
		var v any
		if err := node.Decode(&v); err != nil {
			t.Errorf("%s: example does not decode: %v", where, err)
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Errorf("%s: example is not JSON: %v", where, err)
			return
		}
		checked++
		if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(schema.Schema(), b, 3.1); !ok {
			for _, e := range validationErrors(where, errs) {
				t.Error(e)
			}
		}
	}
	content := func(where string, media *v3.MediaType) {
		check(where+" example", media.Schema, media.Example)
		for name, ex := range media.Examples.FromOldest() {
			check(where+" examples."+name, media.Schema, ex.Value)
		}
	}
	for path, item := range c.doc.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			for _, p := range op.Parameters {
				check(where+" parameter "+p.Name, p.Schema, p.Example)
			}
			if op.RequestBody != nil {
				for mt, media := range op.RequestBody.Content.FromOldest() {
					content(where+" request "+mt, media)
				}
			}
			for code, resp := range op.Responses.Codes.FromOldest() {
				for mt, media := range resp.Content.FromOldest() {
					content(fmt.Sprintf("%s %s %s", where, code, mt), media)
				}
			}
		}
	}
	for name, h := range c.doc.Components.Headers.FromOldest() {
		check("header "+name, h.Schema, h.Example)
	}
	if checked < 20 {
		t.Errorf("only %d examples checked; the walk missed some", checked)
	}
}

// TestOpenAPIObjectsSayWhetherTheyAreOpen: every object schema that lists
// properties also says whether others may appear (additionalProperties, or
// unevaluatedProperties where allOf composes it), so the response
// validation catches a field the document does not know.
func TestOpenAPIObjectsSayWhetherTheyAreOpen(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		t.Fatal(err)
	}
	// Schemas composed by a parent that closes them with
	// unevaluatedProperties may themselves stay open.
	composed := map[string]bool{}
	for _, raw := range doc.Components.Schemas {
		var s struct {
			AllOf []struct {
				Ref string `json:"$ref"`
			} `json:"allOf"`
			UnevaluatedProperties *bool `json:"unevaluatedProperties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		if s.UnevaluatedProperties != nil && !*s.UnevaluatedProperties {
			for _, r := range s.AllOf {
				composed[strings.TrimPrefix(r.Ref, "#/components/schemas/")] = true
			}
		}
	}
	// open says whether v may leave others open: the parts of an allOf
	// whose parent closes it, and the condition of a not.
	var walk func(where string, v any, open bool)
	walk = func(where string, v any, open bool) {
		switch x := v.(type) {
		case map[string]any:
			_, ap := x["additionalProperties"]
			_, up := x["unevaluatedProperties"]
			if _, ok := x["properties"].(map[string]any); ok && !open && !ap && !up {
				t.Errorf("%s lists properties but not whether others may appear", where)
			}
			for k, e := range x {
				walk(where+"/"+k, e, k == "not" || k == "allOf" && x["unevaluatedProperties"] == false)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", where, i), e, open)
			}
		}
	}
	for name, raw := range doc.Components.Schemas {
		if composed[name] {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		walk("#/components/schemas/"+name, v, false)
	}
}

// TestPredictRequestSchemaAgreesWithTheServer: the document's request
// schema for POST /predict accepts exactly the bodies the server accepts.
// (The checker only holds the document to "what the server accepts, the
// document allows"; here both directions hold.)
func TestPredictRequestSchemaAgreesWithTheServer(t *testing.T) {
	f := newFixture(t, testLimits)
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45.0, "species_Chinstrap": false, "species_Gentoo": true, "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 0, "species_Gentoo": 1, "sex_male": 1}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 0.0, "species_Gentoo": 1e0, "sex_male": false}`,
		`{"bill_length_mm": 150, "species": "Adelie", "sex": "female"}`,
		`{"bill_length_mm": 1e-3, "species": "Chinstrap", "sex": "female"}`,
		`[{"bill_length_mm": 39.1, "species": "Adelie", "sex": "male"}, {"bill_length_mm": 46.5, "species_Chinstrap": true, "species_Gentoo": false, "sex_male": false}]`,
		`[{"bill_length_mm": 70, "species": "Adelie", "sex": "male"}]`,
		// rejected by both
		`{"bill_length_mm": 150.5, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 0, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": -45, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": "45", "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": null, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45, "species": "gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45, "species": "Emperor", "sex": "M"}`,
		`{"species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male", "island": "Biscoe"}`,
		`{"bill_length_mm": 45, "species": "Gentoo", "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": true, "species_Gentoo": true, "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 1, "species_Gentoo": true, "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 2, "species_Gentoo": false, "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": false, "species_Gentoo": "yes", "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Gentoo": false, "sex_male": true}`,
		`{}`, `[]`, `42`, `null`, `"Gentoo"`, `[1, "a"]`, `[[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}]]`,
		`[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": -1, "species": "Gentoo", "sex": "male"}]`,
	}
	for _, body := range bodies {
		resp, b := f.predict(t, "", body)
		req := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		docOK, _ := c.v.ValidateHttpRequestSync(req)
		if serverOK := resp.StatusCode == http.StatusOK; docOK != serverOK {
			t.Errorf("%s: the document accepts it: %v; the server answered %d %s", body, docOK, resp.StatusCode, b)
		}
	}
}

// TestEveryDocumentedResponseIsChecked provokes every response the
// document lists, good and bad, through the checker, and fails if one
// goes unprovoked: a response added to the document, or a route added to
// the server, needs a request here.
func TestEveryDocumentedResponseIsChecked(t *testing.T) {
	ck := newChecker(t)
	f := newCheckedFixture(t, testLimits, ck)
	small := newCheckedFixture(t, Limits{MaxBodyBytes: 1024, MaxRows: 3}, ck)
	loading := ck.server(newUnloadedServer(t).Handler())
	drainingSrv := newUnloadedServer(t)
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := drainingSrv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
		t.Fatal(err)
	}
	drainingSrv.SetDraining()
	draining := ck.server(drainingSrv.Handler())
	driftOffSrv := newUnloadedServer(t)
	driftOffSrv.EnableDrift(DriftSettings{})
	if err := driftOffSrv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
		t.Fatal(err)
	}
	driftOff := ck.server(driftOffSrv.Handler())
	stored := newStoreFixture(t, ck)
	stored.pinByYear(t)
	corrupt := corruptStoreServer(t, ck)
	aliased := aliasedStore(t, ck)
	badAliases := aliasedStore(t, ck)
	corruptAliases(t, badAliases)
	shadowOK := newShadowFixture(t, ck, true)
	shadowUnavailable := newShadowFixture(t, ck, false)

	v := f.art.Version
	raw := `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`
	oneHotBatch := `[{"bill_length_mm": 45, "species_Chinstrap": false, "species_Gentoo": true, "sex_male": true},
		{"bill_length_mm": 39.1, "species_Chinstrap": 1, "species_Gentoo": 0, "sex_male": 0}]`
	outOfRange := `[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": 70, "species": "Adelie", "sex": "female"}]`
	manyOutOfRange := "[" + strings.TrimSuffix(strings.Repeat(`{"bill_length_mm": 70, "species": "Adelie", "sex": "female"},`, 101), ",") + "]"
	manyBad := "[" + strings.TrimSuffix(strings.Repeat(`{"bill_length_mm": -1, "species": "Gentoo", "sex": "male"},`, 101), ",") + "]"
	tensor := func(name, dt, data string) string {
		return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": [1], "data": ` + data + `}`
	}
	infer := func(bill, species string, outputs string) string {
		return `{"id": "r1", "inputs": [` + tensor("bill_length_mm", "FP64", bill) + `,` + tensor("species", "BYTES", species) + `,` +
			tensor("sex", "BYTES", `["male"]`) + `]` + outputs + `}`
	}
	goodInfer := infer("[45]", `["Gentoo"]`, "")
	allOutputs := `, "outputs": [{"name": "body_mass_g"}, {"name": "body_mass_g_lower_95"}, {"name": "body_mass_g_upper_95"}]`
	tooLarge := `{"inputs": [], "pad": "` + strings.Repeat("x", 2048) + `"}`

	type call struct {
		ts                        *httptest.Server
		method, path, ctype, body string
		want                      int
	}
	calls := []call{
		{f.ts, "GET", "/", "", "", 302},
		{f.ts, "GET", "/docs", "", "", 200},
		{f.ts, "GET", "/openapi.json", "", "", 200},
		{f.ts, "GET", "/metrics", "", "", 200},
		{f.ts, "GET", "/ping", "", "", 200},
		{f.ts, "GET", "/healthz", "", "", 200},
		{f.ts, "GET", "/readyz", "", "", 200},
		{loading, "GET", "/readyz", "", "", 503},
		{draining, "GET", "/readyz", "", "", 503},
		{draining, "GET", "/healthz", "", "", 200},
		{f.ts, "GET", "/metadata", "", "", 200},
		{loading, "GET", "/metadata", "", "", 503},
		{f.ts, "GET", "/diagnostics", "", "", 200},
		{loading, "GET", "/diagnostics", "", "", 503},
		{f.ts, "GET", "/prototype", "", "", 200},
		{loading, "GET", "/prototype", "", "", 503},
		{f.ts, "GET", "/monitoring/drift", "", "", 200},
		{driftOff, "GET", "/monitoring/drift", "", "", 200},
		{loading, "GET", "/monitoring/drift", "", "", 503},
		{f.ts, "GET", "/monitoring/performance", "", "", 200},
		{stored.ts, "GET", "/monitoring/performance", "", "", 200},
		{stored.ts, "GET", "/monitoring/performance?version=" + stored.older, "", "", 200},
		{stored.ts, "GET", "/monitoring/performance?version=latest", "", "", 400},
		{stored.ts, "GET", "/monitoring/performance?version=20990101T000000Z-0123456789ab", "", "", 404},
		{f.ts, "GET", "/monitoring/performance?version=20990101T000000Z-0123456789ab", "", "", 404},
		{corrupt, "GET", "/monitoring/performance", "", "", 500},
		{loading, "GET", "/monitoring/performance", "", "", 503},
		{f.ts, "GET", "/aliases", "", "", 200},
		{aliased.ts, "GET", "/aliases", "", "", 200},
		{badAliases.ts, "GET", "/aliases", "", "", 500},
		{loading, "GET", "/aliases", "", "", 503},
		{f.ts, "GET", "/monitoring/shadow", "", "", 200},
		{shadowOK.ts, "POST", "/predict", "application/json", oneHotBatch, 200},
		{shadowOK.ts, "GET", "/monitoring/shadow", "", "", 200},
		{shadowUnavailable.ts, "GET", "/monitoring/shadow", "", "", 200},
		{loading, "GET", "/monitoring/shadow", "", "", 503},

		{f.ts, "POST", "/predict", "application/json", raw, 200},
		{f.ts, "POST", "/predict", "application/json", oneHotBatch, 200},
		{f.ts, "POST", "/predict?interval=prediction&contributions=true", "application/json", outOfRange, 200},
		{f.ts, "POST", "/predict?interval=none&contributions=false", "application/json", outOfRange, 200},
		{f.ts, "POST", "/predict", "application/json", manyOutOfRange, 200},
		{f.ts, "POST", "/predict", "application/vnd.penguins+json", raw, 200},
		{f.ts, "POST", "/predict", "", raw, 200},
		{f.ts, "POST", "/predict", "application/json; charset=utf-8", raw, 200},
		{f.ts, "POST", "/predict", "application/json", `{"bill_length_mm": 45,`, 400},
		{f.ts, "POST", "/predict", "text/csv", raw, 400},
		{f.ts, "POST", "/predict?interval=confidence", "application/json", raw, 400},
		{small.ts, "POST", "/predict", "application/json", manyOutOfRange, 413},
		{f.ts, "POST", "/predict", "application/json", `{"bill_length_mm": 45, "species": "Emperor", "sex": "male"}`, 422},
		{f.ts, "POST", "/predict", "application/json", manyBad, 422},
		{small.ts, "POST", "/predict", "application/json", "[" + raw + "," + raw + "," + raw + "," + raw + "]", 422},
		{loading, "POST", "/predict", "application/json", raw, 503},
		{draining, "POST", "/predict", "application/json", raw, 503},

		{f.ts, "GET", "/v2", "", "", 200},
		{f.ts, "GET", "/v2/health/live", "", "", 200},
		{f.ts, "GET", "/v2/health/ready", "", "", 200},
		{loading, "GET", "/v2/health/ready", "", "", 503},
		{loading, "GET", "/v2/health/live", "", "", 200},
		{loading, "GET", "/v2", "", "", 200},
		{f.ts, "GET", "/v2/models/penguin_model", "", "", 200},
		{f.ts, "GET", "/v2/models/penguins", "", "", 404},
		{loading, "GET", "/v2/models/penguin_model", "", "", 503},
		{f.ts, "GET", "/v2/models/penguin_model/versions/" + v, "", "", 200},
		{f.ts, "GET", "/v2/models/penguin_model/versions/20200101T000000Z-000000000000", "", "", 404},
		{loading, "GET", "/v2/models/penguin_model/versions/" + v, "", "", 503},
		{f.ts, "GET", "/v2/models/penguin_model/ready", "", "", 200},
		{f.ts, "GET", "/v2/models/iris/ready", "", "", 404},
		{loading, "GET", "/v2/models/penguin_model/ready", "", "", 503},
		{f.ts, "GET", "/v2/models/penguin_model/versions/" + v + "/ready", "", "", 200},
		{f.ts, "GET", "/v2/models/penguin_model/versions/old/ready", "", "", 404},
		{loading, "GET", "/v2/models/penguin_model/versions/" + v + "/ready", "", "", 503},
	}
	for _, p := range []string{"/v2/models/penguin_model/infer", "/v2/models/penguin_model/versions/{v}/infer"} {
		iris := strings.Replace(p, "penguin_model", "iris", 1)
		smallPath := strings.Replace(p, "{v}", small.art.Version, 1)
		p = strings.Replace(p, "{v}", v, 1)
		iris = strings.Replace(iris, "{v}", v, 1)
		calls = append(calls,
			call{f.ts, "POST", p, "application/json", goodInfer, 200},
			call{f.ts, "POST", p, "application/json", infer("[70]", `["Adelie"]`, allOutputs), 200},
			call{f.ts, "POST", p, "application/json", `{"inputs": [`, 400},
			call{f.ts, "POST", p, "application/json", infer("[45]", `["Gentoo"]`, `, "outputs": [{"name": "mass"}]`), 400},
			call{f.ts, "POST", p, "text/plain", goodInfer, 400},
			call{f.ts, "POST", iris, "application/json", goodInfer, 404},
			call{small.ts, "POST", smallPath, "application/json", tooLarge, 413},
			call{f.ts, "POST", p, "application/json", infer("[-3]", `["Emperor"]`, ""), 422},
			call{loading, "POST", p, "application/json", goodInfer, 503},
		)
	}
	// Requests the document has no operation for: 404 and 405 problems,
	// and the protocol's error body under /v2.
	calls = append(calls,
		call{f.ts, "GET", "/nope", "", "", 404},
		call{f.ts, "GET", "/predict", "", "", 405},
		call{f.ts, "DELETE", "/metadata", "", "", 405},
		call{f.ts, "HEAD", "/nope", "", "", 404},
		call{f.ts, "HEAD", "/metadata", "", "", 200},
		call{loading, "HEAD", "/metadata", "", "", 503},
		call{f.ts, "HEAD", "/docs", "", "", 200},
		call{f.ts, "HEAD", "/v2/models/penguin_model", "", "", 200},
		call{f.ts, "HEAD", "/v2/models/penguins", "", "", 404},
		call{f.ts, "HEAD", "/predict", "", "", 405},
		call{f.ts, "GET", "/v2/nope", "", "", 404},
		call{f.ts, "GET", "/v2/models/penguin_model/infer", "", "", 405},
	)

	// A body that stops arriving: the checker reads the body before the
	// server does, so the server behind it reads one whose connection
	// timed out (TestBodyTimeoutIs408 provokes the real one).
	slow := ck.server(bodyTimesOut(f.srv.Handler()))
	calls = append(calls,
		call{f.ts, "POST", "/predict?interval=%zz", "application/json", raw, 400},
		call{f.ts, "POST", "/predict?interval=prediction;contributions=true", "application/json", raw, 400},
		call{slow, "POST", "/predict", "application/json", raw, 408},
		call{f.ts, "POST", "/predict", "gzip", raw, 415},
	)
	for _, p := range []string{"/v2/models/penguin_model/infer", "/v2/models/penguin_model/versions/" + v + "/infer"} {
		calls = append(calls,
			call{slow, "POST", p, "application/json", goodInfer, 408},
			call{f.ts, "POST", p, "gzip", goodInfer, 415},
			call{f.ts, "POST", p, "application/json", `{"inputs": [], "inputs": []}`, 400},
		)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range calls {
		req, err := http.NewRequest(c.method, c.ts.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		switch c.ctype {
		case "":
		case "gzip": // a JSON body declared compressed
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
		default:
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.method == http.MethodHead && len(body) > 0 {
			t.Errorf("HEAD %s: a body of %d bytes", c.path, len(body))
		}
		if resp.StatusCode != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}

	// 401, 403 and 429, from servers with auth on.
	provokeAuth(t, ck)

	// The only documented answer a test cannot provoke from outside.
	unprovokable := map[string]string{"POST /predict 500": "an internal error"}
	ck.mu.Lock()
	defer ck.mu.Unlock()
	for _, r := range documentedResponses(ck.c.doc) {
		if ck.matched[r] == 0 && unprovokable[r] == "" {
			t.Errorf("no request provoked the documented response %s", r)
		}
	}
	if n := ck.checked.Load(); n < int64(len(calls)) {
		t.Errorf("%d responses checked for %d requests", n, len(calls))
	}
}

// bodyTimesOut serves h with request bodies that fail as a connection
// past its read deadline does.
func bodyTimesOut(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, 5), errReader{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}))
		h.ServeHTTP(w, r)
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// documentedResponses lists "METHOD /path status" for every response in
// the document.
func documentedResponses(doc *v3.Document) []string {
	var out []string
	for path, item := range doc.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code := range op.Responses.Codes.KeysFromOldest() {
				out = append(out, strings.ToUpper(method)+" "+path+" "+code)
			}
		}
	}
	slices.Sort(out)
	return out
}

// newUnloadedServer is a server with no model loaded yet.
func newUnloadedServer(t *testing.T) *Server {
	t.Helper()
	core, _ := observer.New(zapcore.InfoLevel)
	srv, err := New(zap.New(core), testLimits, buildinfo.Info{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// recordingTB collects the errors a checker reports instead of failing.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}
