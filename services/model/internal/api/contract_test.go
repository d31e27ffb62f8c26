package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

// contract is openapi.json loaded into an independent validator
// (pb33f/libopenapi-validator), which checks real requests and responses
// against the document's schemas. Every API test serves through
// a checker, so every answer a test provokes is checked.
type contract struct {
	doc     *v3.Document
	v       validator.Validator
	opts    *config.ValidationOptions
	schemas schema_validation.SchemaValidator
}

// validationOptions: formats (date-time, uri-reference) are asserted too.
// The document's security requirements are not: with auth off (dev
// without a keys file) the server rightly accepts requests without a key.
// What auth does is checked by the requests of auth_test.go, whose 401,
// 403 and 429 answers are checked against the document like any other.
func validationOptions() []config.Option {
	return []config.Option{config.WithFormatAssertions(), config.WithoutSecurityValidation()}
}

var loadContract = sync.OnceValues(func() (*contract, error) { return newContract(openAPISpec) })

func newContract(spec []byte) (*contract, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	v, errs := validator.NewValidator(doc, validationOptions()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %v", errs)
	}
	return &contract{
		doc:     &model.Model,
		v:       v,
		opts:    config.NewValidationOptions(validationOptions()...),
		schemas: schema_validation.NewSchemaValidator(validationOptions()...),
	}, nil
}

// exchange is one request and the response the server gave it.
type exchange struct {
	req     *http.Request
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// plainHeaders belong to HTTP rather than to the API (framing, content
// negotiation, the content type that the content maps describe): no
// response declares them.
var plainHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Vary", "Date"}

// check returns every way the exchange disagrees with the document, and
// the documented response it matched ("GET /v2/models/{name} 404"), empty
// when the request has no operation in the document.
func (c *contract) check(x exchange) (problems []string, matched string) {
	pathItem, errs, template := paths.FindPath(x.request(), c.doc, c.opts)
	if len(errs) > 0 || pathItem == nil {
		return c.checkUnrouted(x), ""
	}
	// The operation of exactly this method, except that every GET answers
	// HEAD as well: its status and headers, without a body.
	op := pathItem.GetOperations().GetOrZero(strings.ToLower(x.req.Method))
	if op == nil && x.req.Method == http.MethodHead {
		if get := pathItem.GetOperations().GetOrZero("get"); get != nil {
			return c.checkHead(x, get, template)
		}
	}
	if op == nil {
		return c.checkUnrouted(x), ""
	}
	code := strconv.Itoa(x.status)
	resp := op.Responses.Codes.GetOrZero(code)
	if resp == nil {
		problems = append(problems, fmt.Sprintf("status %d is not documented for %s %s", x.status, x.req.Method, template))
	} else {
		matched = x.req.Method + " " + template + " " + code
	}

	if ok, errs := c.v.ValidateHttpResponse(x.request(), x.response()); !ok {
		problems = append(problems, validationErrors("response", errs)...)
	}
	if resp != nil {
		problems = append(problems, undeclaredHeaders(x, resp.Headers)...)
		if len(x.body) > 0 && orderedmap.Len(resp.Content) == 0 {
			problems = append(problems, fmt.Sprintf("the %d response has a body but the document declares no content", x.status))
		}
	}
	// What the server accepts, the document must allow: a 2xx answer to a
	// request that the document calls invalid means the document is
	// narrower than the server.
	if x.status < 300 {
		if ok, errs := c.v.ValidateHttpRequestSync(x.request()); !ok {
			problems = append(problems, validationErrors("the server accepted a request the document rejects", errs)...)
		}
	}
	return problems, matched
}

// checkHead checks a HEAD answer against the GET operation get of
// template: a status documented for GET and the headers it declares. The
// handler writes GET's body, which net/http's server drops on the wire
// (TestEveryDocumentedResponseIsChecked reads HEAD answers there).
func (c *contract) checkHead(x exchange, get *v3.Operation, template string) (problems []string, matched string) {
	resp := get.Responses.Codes.GetOrZero(strconv.Itoa(x.status))
	if resp == nil {
		return []string{fmt.Sprintf("status %d of HEAD is not documented for GET %s", x.status, template)}, ""
	}
	return undeclaredHeaders(x, resp.Headers), ""
}

// checkUnrouted checks the answer to a request the document has no
// operation for: a 404 or 405 problem, or under /v2 the protocol's
// {"error": ...} body.
func (c *contract) checkUnrouted(x exchange) []string {
	var problems []string
	if x.status != http.StatusNotFound && x.status != http.StatusMethodNotAllowed {
		problems = append(problems, fmt.Sprintf("%s %s is not in the document, yet the server answered %d, not 404 or 405", x.req.Method, x.req.URL.Path, x.status))
	}
	if x.req.Method == http.MethodHead {
		if len(x.body) > 0 {
			problems = append(problems, "a HEAD answer with a body")
		}
		return problems
	}
	name, mediaType := "Problem", "application/problem+json"
	if x.req.URL.Path == "/v2" || strings.HasPrefix(x.req.URL.Path, "/v2/") {
		name, mediaType = "OIPError", "application/json"
	}
	if ct := x.header.Get("Content-Type"); ct != mediaType {
		problems = append(problems, fmt.Sprintf("Content-Type %q, want %q", ct, mediaType))
	}
	if x.header.Get("X-Request-ID") == "" {
		problems = append(problems, "no X-Request-ID header")
	}
	schema := c.doc.Components.Schemas.GetOrZero(name).Schema()
	if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(schema, x.body, 3.1); !ok {
		problems = append(problems, validationErrors("body against "+name, errs)...)
	}
	return problems
}

// undeclaredHeaders lists the headers the server sent that the documented
// response does not declare. (The validator checks the declared ones.)
func undeclaredHeaders(x exchange, declared *orderedmap.Map[string, *v3.Header]) []string {
	var names []string
	if declared != nil {
		for k := range declared.KeysFromOldest() {
			names = append(names, strings.ToLower(k))
		}
	}
	var problems []string
	for name := range x.header {
		// CORS headers belong to HTTP too; auth_test.go checks them.
		if slices.Contains(plainHeaders, name) || slices.Contains(names, strings.ToLower(name)) || strings.HasPrefix(name, "Access-Control-") {
			continue
		}
		problems = append(problems, fmt.Sprintf("the %d response sends header %s, which it does not declare", x.status, name))
	}
	slices.Sort(problems)
	return problems
}

// request is a copy of the request for the validator. The server reads a
// body sent without a Content-Type as JSON, which OpenAPI cannot say, so
// the validator is told so.
func (x exchange) request() *http.Request {
	r := x.req.Clone(x.req.Context())
	r.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	if len(x.reqBody) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// canonical is h with its keys in canonical form, as a client reads them
// (a handler may set a key directly in another case).
func canonical(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		for _, v := range vs {
			out.Add(k, v)
		}
	}
	return out
}

func (x exchange) response() *http.Response {
	return &http.Response{
		StatusCode: x.status, Header: x.header.Clone(), Request: x.req,
		Body: io.NopCloser(bytes.NewReader(x.body)), ContentLength: int64(len(x.body)),
	}
}

func validationErrors(what string, errs []*errors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		s := what + ": " + e.Message
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			s += fmt.Sprintf("\n\t\t%s at %q (%s)", f.Reason, f.FieldPath, f.KeywordLocation)
		}
		out = append(out, s)
	}
	return out
}

// checker routes a test server's traffic through the contract and
// remembers which documented responses it saw.
type checker struct {
	t testing.TB
	c *contract

	mu      sync.Mutex
	matched map[string]int
	checked atomic.Int64
}

func newChecker(t testing.TB) *checker {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	ck := &checker{t: t, c: c, matched: map[string]int{}}
	t.Cleanup(func() { t.Logf("%d responses checked against openapi.json", ck.checked.Load()) })
	return ck
}

// server starts an httptest server for h whose every request and response
// is checked against openapi.json; a disagreement fails the test.
func (ck *checker) server(h http.Handler) *httptest.Server {
	ts := httptest.NewServer(ck.handler(h))
	ck.t.Cleanup(ts.Close)
	return ts
}

// handler serves h, records its answer, checks the exchange and then
// sends the answer on.
func (ck *checker) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			ck.t.Errorf("reading the request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		x := exchange{req: r, reqBody: reqBody, status: rec.Code, header: canonical(rec.Header()), body: rec.Body.Bytes()}
		problems, matched := ck.c.check(x)
		ck.checked.Add(1)
		if matched != "" {
			ck.mu.Lock()
			ck.matched[matched]++
			ck.mu.Unlock()
		}
		if len(problems) > 0 {
			ck.t.Errorf("%s %s answered %d, which disagrees with openapi.json:\n\t%s\n\trequest body: %.300s\n\tresponse body: %.600s",
				r.Method, r.URL, rec.Code, strings.Join(problems, "\n\t"), reqBody, rec.Body.Bytes())
		}

		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestContractCatchesMismatches proves the check can fail: real answers
// pass, and each one altered to break the document is caught.
func TestContractCatchesMismatches(t *testing.T) {
	f := newFixture(t, testLimits)
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	// real records the server's own answer, unchecked.
	real := func(method, target, body string) exchange {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		return exchange{req: req, reqBody: []byte(body), status: rec.Code, header: canonical(rec.Header()), body: rec.Body.Bytes()}
	}
	raw := `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`
	infer := `{"inputs": [{"name": "bill_length_mm", "shape": [1], "datatype": "FP64", "data": [45]},
		{"name": "species", "shape": [1], "datatype": "BYTES", "data": ["Gentoo"]},
		{"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}]}`
	predict := real("POST", "/predict?interval=prediction&contributions=true", raw)
	invalid := real("POST", "/predict", `{"bill_length_mm": 45, "species": "Emperor", "sex": "male"}`)
	metadata := real("GET", "/metadata", "")
	inferred := real("POST", "/v2/models/penguin_model/infer", infer)
	inferInvalid := real("POST", "/v2/models/penguin_model/infer", strings.Replace(infer, "Gentoo", "Emperor", 1))
	notFound := real("GET", "/nope", "")
	oipNotFound := real("GET", "/v2/nope", "")
	for name, x := range map[string]exchange{
		"predict": predict, "invalid": invalid, "metadata": metadata, "infer": inferred, "infer invalid": inferInvalid,
		"not found": notFound, "oip not found": oipNotFound, "prototype": real("GET", "/prototype", ""),
		"readyz": real("GET", "/readyz", ""), "redirect": real("GET", "/", ""),
	} {
		if problems, _ := c.check(x); len(problems) > 0 {
			t.Errorf("the real %s answer fails the check:\n\t%s", name, strings.Join(problems, "\n\t"))
		}
	}

	// edit returns x with its JSON body changed by fn.
	edit := func(x exchange, fn func(map[string]any)) exchange {
		var m map[string]any
		if err := json.Unmarshal(x.body, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		x.body, _ = json.Marshal(m)
		return x
	}
	withHeader := func(x exchange, k, v string) exchange {
		x.header = x.header.Clone()
		if v == "" {
			x.header.Del(k)
		} else {
			x.header.Set(k, v)
		}
		return x
	}
	withStatus := func(x exchange, s int) exchange { x.status = s; return x }
	withRequest := func(x exchange, body string) exchange { x.reqBody = []byte(body); return x }
	withBody := func(x exchange, body string) exchange { x.body = []byte(body); return x }
	cases := []struct {
		name string
		x    exchange
		want string
	}{
		{"missing required field", edit(predict, func(m map[string]any) { delete(m, "version") }), "missing property 'version'"},
		{"undocumented field", edit(predict, func(m map[string]any) { m["debug"] = true }), "'debug' not allowed"},
		{"wrong type", edit(predict, func(m map[string]any) { m["predict"] = []any{"5275"} }), "want number"},
		{"undocumented contribution term", edit(predict, func(m map[string]any) {
			m["contributions"].([]any)[0].(map[string]any)["island"] = 1.0
		}), "'island' not allowed"},
		{"wrong content type", withHeader(predict, "Content-Type", "text/plain"), "content type"},
		{"undocumented status", withStatus(predict, http.StatusCreated), "status 201 is not documented"},
		{"missing required header", withHeader(predict, "X-Model-Version", ""), "X-Model-Version"},
		{"undeclared header", withHeader(predict, "X-Debug", "1"), "header X-Debug, which it does not declare"},
		{"accepted what the document rejects", withRequest(predict, `{"bill_length_mm": 45}`), "the server accepted a request the document rejects"},
		{"bad date-time", edit(metadata, func(m map[string]any) { m["created"] = "yesterday" }), "date-time"},
		{"field beside the artifact", edit(metadata, func(m map[string]any) { m["debug"] = 1 }), "debug"},
		{"nested field", edit(metadata, func(m map[string]any) { m["serving"].(map[string]any)["host"] = "x" }), "'host' not allowed"},
		{"problem without request id", edit(invalid, func(m map[string]any) { delete(m, "request_id") }), "request_id"},
		{"field error without pointer", edit(invalid, func(m map[string]any) {
			delete(m["errors"].([]any)[0].(map[string]any), "pointer")
		}), "pointer"},
		{"problem as plain JSON", withHeader(invalid, "Content-Type", "application/json"), "content type"},
		{"problem body under /v2", withBody(inferInvalid, string(invalid.body)), "not allowed"},
		{"wrong output datatype", edit(inferred, func(m map[string]any) {
			m["outputs"].([]any)[0].(map[string]any)["datatype"] = "FP32"
		}), "FP64"},
		{"unrouted answered 200", withStatus(notFound, http.StatusOK), "not 404 or 405"},
		{"unrouted /v2 answered with a problem", withBody(oipNotFound, string(notFound.body)), "OIPError"},
		{"body where none is documented", withBody(real("GET", "/", ""), "moved"), "declares no content"},
		{"redirect without Location", withHeader(real("GET", "/", ""), "Location", ""), "Location"},
		{"prototype as plain JSON", withHeader(real("GET", "/prototype", ""), "Content-Type", "application/json"), "content type"},
		{"unknown health status", edit(real("GET", "/readyz", ""), func(m map[string]any) { m["status"] = "sleeping" }), "$.status"},
		{"ready without its version", edit(real("GET", "/readyz", ""), func(m map[string]any) { delete(m, "version") }), "version"},
		{"malformed request id", withHeader(real("GET", "/ping", ""), "X-Request-ID", "bad id"), "X-Request-ID"},
	}
	for _, tc := range cases {
		problems, _ := c.check(tc.x)
		all := strings.Join(problems, "\n")
		if len(problems) == 0 || !strings.Contains(strings.ToLower(all), strings.ToLower(tc.want)) {
			t.Errorf("%s: want a problem mentioning %q, got %q", tc.name, tc.want, all)
		}
	}
}

// TestCheckerFailsTheTest: a handler whose answer disagrees with the
// document makes the checker report an error for the test.
func TestCheckerFailsTheTest(t *testing.T) {
	rec := &recordingTB{TB: t}
	ck := newChecker(rec)
	// The handler answers /ping with the body it is sent.
	ts := ck.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "x")
		_, _ = io.Copy(w, r.Body)
	}))
	for _, body := range []string{`{"ping":"pong"}`, `{"ping":"pang"}`} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ping", strings.NewReader(body))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != body {
			t.Errorf("the checker changed the body to %s", b)
		}
		got := rec.reported()
		if wrong := body != `{"ping":"pong"}`; wrong != (len(got) > 0) {
			t.Errorf("answer %s: the checker reported %q", body, got)
		}
	}
}
