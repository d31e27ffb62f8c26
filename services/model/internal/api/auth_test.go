package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/services/model/internal/auth"
)

// newAuthFixture is a fixture with auth on and three keys: "all"
// (predict,read), "reader" (read) and "scorer" (predict).
func newAuthFixture(t *testing.T, ck *checker, limits auth.Limits) (*fixture, map[string]string) {
	t.Helper()
	f := newCheckedFixture(t, testLimits, ck)
	path := filepath.Join(t.TempDir(), "api-keys")
	keys := map[string]string{}
	for name, scopes := range map[string][]auth.Scope{"all": {auth.Predict, auth.Read}, "reader": {auth.Read}, "scorer": {auth.Predict}} {
		k, err := auth.Add(path, name, scopes, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
	}
	a, err := auth.New(f.srv.log, f.srv.Registerer(), path, limits)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.EnableAuth(a)
	return f, keys
}

// documentedOp is an operation of openapi.json with the scope it declares
// ("" for an open one).
type documentedOp struct{ method, path, scope string }

func documentedOps(t *testing.T) []documentedOp {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			Scope    string            `json:"x-scope"`
			Security []json.RawMessage `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []documentedOp
	for path, item := range doc.Paths {
		for method, op := range item {
			if method != "get" && method != "post" {
				continue
			}
			if (op.Scope != "") != (len(op.Security) > 0) {
				t.Errorf("%s %s: x-scope %q but %d security requirements", method, path, op.Scope, len(op.Security))
			}
			ops = append(ops, documentedOp{strings.ToUpper(method), path, op.Scope})
		}
	}
	slices.SortFunc(ops, func(a, b documentedOp) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return ops
}

const rawRecord = `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`

const inferBody = `{"inputs": [{"name": "bill_length_mm", "shape": [1], "datatype": "FP64", "data": [45]},
	{"name": "species", "shape": [1], "datatype": "BYTES", "data": ["Gentoo"]},
	{"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["male"]}]}`

// call sends op to ts with the headers given as pairs and returns the
// answer.
func (op documentedOp) call(t *testing.T, ts *httptest.Server, version string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	path := strings.NewReplacer("{name}", "penguin_model", "{version}", version).Replace(op.path)
	body := ""
	if op.method == http.MethodPost {
		body = rawRecord
		if strings.HasPrefix(path, "/v2") {
			body = inferBody
		}
	}
	req, err := http.NewRequest(op.method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// provokeAuth sends every documented operation to servers with auth on:
// the ones that declare a scope answer 401 without a key, 403 with a key
// lacking the scope and 429 over the key's limit; the open ones answer
// without a key. So the document's security and the routes agree, and the
// checker sees every 401, 403 and 429 the document declares.
func provokeAuth(t *testing.T, ck *checker) {
	authed, keys := newAuthFixture(t, ck, auth.Limits{FailureBurst: 1000})
	limited, lkeys := newAuthFixture(t, ck, auth.Limits{Rate: 1.0 / 86400, Burst: 1, FailureBurst: 1000})
	authed.srv.MetricsElsewhere()
	limited.srv.MetricsElsewhere()
	lacking := map[string]string{"predict": keys["reader"], "read": keys["scorer"]}
	for _, op := range documentedOps(t) {
		name := op.method + " " + op.path
		resp, _ := op.call(t, authed.ts, authed.art.Version)
		if op.scope == "" {
			if resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("%s is open in the document but answers 401 without a key", name)
			}
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without a key: %d, WWW-Authenticate %q; want 401 with a Bearer challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if resp, _ := op.call(t, authed.ts, authed.art.Version, "Authorization", "Bearer "+lacking[op.scope]); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a key lacking %s: %d, want 403", name, op.scope, resp.StatusCode)
		}
		if resp, _ := op.call(t, authed.ts, authed.art.Version, "X-API-Key", keys["all"]); resp.StatusCode/100 != 2 {
			t.Errorf("%s with a key that has %s: %d", name, op.scope, resp.StatusCode)
		}
		op.call(t, limited.ts, limited.art.Version, "Authorization", "Bearer "+lkeys["all"]) // the first spends the bucket
		resp, _ = op.call(t, limited.ts, limited.art.Version, "Authorization", "Bearer "+lkeys["all"])
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || s < 1 {
			t.Errorf("%s over the key's limit: %d, Retry-After %q; want 429 and whole seconds", name, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

func TestAuthAnswers(t *testing.T) {
	ck := newChecker(t)
	f, keys := newAuthFixture(t, ck, auth.Limits{Rate: 1.0 / 86400, Burst: 2, FailureBurst: 1000})
	predict := documentedOp{http.MethodPost, "/predict", "predict"}
	infer := documentedOp{http.MethodPost, "/v2/models/{name}/infer", "predict"}

	resp, b := predict.call(t, f.ts, "")
	p := decodeJSON[struct {
		Type, Title, Detail string
		Status              int
	}](t, b)
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" || p.Type != "/docs#problem-unauthorized" ||
		p.Status != 401 || !strings.Contains(p.Detail, "Authorization: Bearer <key>") || resp.Header.Get("WWW-Authenticate") != `Bearer realm="model-api"` {
		t.Errorf("no key: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp, b = infer.call(t, f.ts, "", "Authorization", "Bearer "+auth.NewKey())
	if resp.StatusCode != 401 || !strings.Contains(string(b), `"error":"the API key is not valid (unknown or revoked)"`) || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("unknown key under /v2: %d %s", resp.StatusCode, b)
	}
	resp, b = predict.call(t, f.ts, "", "X-API-Key", keys["reader"])
	if p := decodeJSON[modelapiProblem](t, b); resp.StatusCode != 403 || p.Type != "/docs#problem-forbidden" || !strings.Contains(p.Detail, "reader lacks the predict scope") {
		t.Errorf("read-only key on /predict: %d %s", resp.StatusCode, b)
	}
	// Bad credentials are 401s, never 5xx.
	for _, hdr := range [][]string{
		{"Authorization", "Bearer " + keys["all"], "Authorization", "Bearer " + keys["all"]},
		{"Authorization", "Bearer " + keys["all"], "X-API-Key", keys["all"]},
		{"X-API-Key", keys["all"], "X-API-Key", keys["scorer"]},
		{"Authorization", "Bearer "},
		{"Authorization", "Bearer"},
		{"Authorization", "Basic " + keys["all"]},
		{"Authorization", "Bearer " + keys["all"] + "\xe9"},
		{"X-API-Key", "\xff\xfe" + keys["all"]},
		{"X-API-Key", ""},
	} {
		if resp, b := predict.call(t, f.ts, "", hdr...); resp.StatusCode != 401 {
			t.Errorf("headers %q: %d %s, want 401", hdr, resp.StatusCode, b)
		}
	}
	// The bucket of 2: the third call is refused, naming when to retry.
	for i := range 2 {
		if resp, b := predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["scorer"]); resp.StatusCode != 200 {
			t.Fatalf("call %d within the burst: %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b = predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["scorer"])
	if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || s < 3600 || !strings.Contains(string(b), "scorer is over its rate limit") {
		t.Errorf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	// Another key has its own bucket.
	if resp, _ := predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["all"]); resp.StatusCode != 200 {
		t.Errorf("key all, after scorer ran out: %d", resp.StatusCode)
	}
	// Open routes stay open.
	for _, path := range []string{"/healthz", "/readyz", "/ping", "/v2/health/live", "/openapi.json", "/metrics"} {
		if resp, _ := f.do(t, http.MethodGet, path, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s with auth on and no key: %d", path, resp.StatusCode)
		}
	}
}

type modelapiProblem struct {
	Type, Title, Detail string
	Status              int
}

// Repeated failures from one address are refused with 429 before the key
// is looked at; other addresses are not affected.
func TestFailuresLimitedPerAddress(t *testing.T) {
	f, keys := newAuthFixture(t, newChecker(t), auth.Limits{FailureRate: 1.0 / 86400, FailureBurst: 3})
	h := f.srv.Handler()
	send := func(addr, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metadata", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := send("203.0.113.5:4000", auth.NewKey()); rec.Code != 401 {
			t.Fatalf("guess %d: %d", i+1, rec.Code)
		}
	}
	for _, key := range []string{auth.NewKey(), keys["all"]} {
		if rec := send("203.0.113.5:4001", key); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
			t.Errorf("after 3 failures: %d %v, want 429 with Retry-After", rec.Code, rec.Header())
		}
	}
	if rec := send("203.0.113.6:4000", keys["all"]); rec.Code != 200 {
		t.Errorf("another address: %d", rec.Code)
	}
}

// Logs and metrics name a key by its name, never by the key or its hash.
func TestKeyNeverInLogsOrMetrics(t *testing.T) {
	f, keys := newAuthFixture(t, newChecker(t), auth.Limits{Rate: 1.0 / 86400, Burst: 1, FailureBurst: 1000})
	predict := documentedOp{http.MethodPost, "/predict", "predict"}
	predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["all"])
	predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["all"]) // 429
	predict.call(t, f.ts, "", "X-API-Key", keys["reader"])            // 403
	predict.call(t, f.ts, "", "X-API-Key", keys["scorer"]+"x")        // 401
	predict.call(t, f.ts, "", "Authorization", "Bearer "+keys["scorer"], "X-API-Key", keys["all"])
	_, metrics := f.do(t, http.MethodGet, "/metrics", "", "")

	var secrets []string
	for _, k := range keys {
		h := auth.HashKey(k)
		secrets = append(secrets, k, fmt.Sprintf("%x", h), fmt.Sprintf("%X", h), k[:16])
	}
	var lines []string
	for _, e := range f.logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		lines = append(lines, e.Message+" "+string(b))
	}
	lines = append(lines, string(metrics))
	for _, line := range lines {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a key or its hash in %.300s", line)
			}
		}
	}
	// The names are there: the check above looks where they are.
	access := f.logs.FilterMessage("request").All()
	var named []string
	for _, e := range access {
		if k, ok := e.ContextMap()["api_key"].(string); ok {
			named = append(named, k)
		}
	}
	if !slices.Contains(named, "all") || !slices.Contains(named, "reader") {
		t.Errorf("access lines name keys %v, want all and reader", named)
	}
	rejected := f.logs.FilterMessage("request rejected").FilterField(zap.String("api_key", "reader")).Len()
	if rejected != 1 {
		t.Errorf("%d rejections naming the reader key", rejected)
	}
	for _, want := range []string{`model_api_key_requests_total{key="all",outcome="ok"} 1`, `model_api_key_requests_total{key="all",outcome="rate_limited"} 1`,
		`model_api_key_requests_total{key="reader",outcome="forbidden"} 1`, `model_auth_refused_total{reason="unknown"} 1`, `model_auth_refused_total{reason="malformed"} 1`,
		`model_api_keys 3`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if got := testutil.ToFloat64(f.srv.metrics.byEndpoint["predict"]); got != 1 {
		t.Errorf("%v predictions counted, want the 1 allowed", got)
	}
}

func TestCORS(t *testing.T) {
	ck := newChecker(t)
	f, keys := newAuthFixture(t, ck, auth.Limits{FailureBurst: 1000})
	f.srv.EnableCORS([]string{"https://app.example.org", "http://localhost:3000"})
	plain := newCheckedFixture(t, testLimits, ck)
	// Preflight requests are not in the document: they go to unchecked
	// servers.
	raw, rawPlain := httptest.NewServer(f.srv.Handler()), httptest.NewServer(plain.srv.Handler())
	t.Cleanup(raw.Close)
	t.Cleanup(rawPlain.Close)
	preflight := func(ts *httptest.Server, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/predict", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(raw, "https://app.example.org")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") || resp.Header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, origin := range []string{"https://evil.example", "https://app.example.org.evil.example", "http://app.example.org"} {
		if resp := preflight(raw, origin); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v, want 403 without CORS headers", origin, resp.StatusCode, resp.Header)
		}
	}
	// The request itself, from the allowed origin, with a key.
	op := documentedOp{http.MethodPost, "/predict", "predict"}
	resp, _ = op.call(t, f.ts, "", "Origin", "http://localhost:3000", "Authorization", "Bearer "+keys["all"])
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Model-Version") {
		t.Errorf("cross-origin predict: %d %v", resp.StatusCode, resp.Header)
	}
	// Without a key the browser can still read the 401.
	resp, _ = op.call(t, f.ts, "", "Origin", "http://localhost:3000")
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("cross-origin 401: %d %v", resp.StatusCode, resp.Header)
	}
	// Without MODEL_CORS_ORIGINS: no CORS headers at all.
	resp = preflight(rawPlain, "https://app.example.org")
	resp2, _ := op.call(t, plain.ts, "", "Origin", "https://app.example.org")
	for _, r := range []*http.Response{resp, resp2} {
		for k := range r.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("CORS off, yet %s: %v", k, r.Header)
			}
		}
	}
}
