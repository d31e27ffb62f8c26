package modelapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/requestid"
)

// fake stands in for the model service: answer writes the response to the
// n-th request (1-based), and fake records every request it received.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake: read body: %v", err)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, received{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body})
		n := len(f.reqs)
		f.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1") // as the model service does
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func notReady(w http.ResponseWriter) {
	writeProblem(w, Problem{Type: "/docs#problem-not-ready", Title: "Model not ready", Status: http.StatusServiceUnavailable, Detail: "retry shortly"})
}

// calls collects what OnCall reports.
type calls struct {
	mu    sync.Mutex
	stats []CallStat
}

func (c *calls) add(s CallStat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats = append(c.stats, s)
}

// one returns the only call reported, failing the test unless there is
// exactly one.
func (c *calls) one(t *testing.T) CallStat {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stats) != 1 {
		t.Fatalf("OnCall called %d times, want 1: %+v", len(c.stats), c.stats)
	}
	return c.stats[0]
}

// newTestClient returns a client of baseURL with fast retries; zero
// options take test defaults.
func newTestClient(t *testing.T, baseURL string, opts ClientOptions) (*Client, *calls) {
	t.Helper()
	cs := &calls{}
	opts.BaseURL = baseURL
	opts.Timeout = cmp.Or(opts.Timeout, 5*time.Second)
	opts.Backoff = cmp.Or(opts.Backoff, time.Millisecond)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, 5*time.Millisecond)
	opts.OnCall = cs.add
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, cs
}

// checkStat checks the one call reported against what the call returned.
func checkStat(t *testing.T, cs *calls, op string, status, attempts int, err error) {
	t.Helper()
	s := cs.one(t)
	if s.Op != op || s.Status != status || s.Attempts != attempts || s.Err != err {
		t.Errorf("CallStat = {Op:%q Status:%d Attempts:%d Err:%v}, want {Op:%q Status:%d Attempts:%d Err:%v}",
			s.Op, s.Status, s.Attempts, s.Err, op, status, attempts, err)
	}
	if s.At.IsZero() || s.Duration <= 0 {
		t.Errorf("CallStat At = %v, Duration = %v; want both set", s.At, s.Duration)
	}
}

var testRecords = []Record{
	{BillLengthMM: 39.1, Species: "Adelie", Sex: "male"},
	{BillLengthMM: 46.5, Species: "Gentoo", Sex: "female"},
}

func TestPredict(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, PredictResponse{
			Predict: []float64{3800, 5000}, Model: "body-mass", Version: "v1",
			Interval:      &Interval{Level: 0.95, Lower: []float64{3100, 4300}, Upper: []float64{4500, 5700}},
			Contributions: []map[string]float64{{"bill_length_mm": 1}, {"bill_length_mm": 2}},
		})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	ctx := requestid.With(t.Context(), "req-123")

	got, err := c.Predict(ctx, testRecords, PredictOptions{Interval: true, Contributions: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Predict, []float64{3800, 5000}) || got.Version != "v1" || got.Interval == nil || got.Interval.Upper[1] != 5700 || len(got.Contributions) != 2 {
		t.Errorf("Predict = %+v", got)
	}
	checkStat(t, cs, "predict", http.StatusOK, 1, nil)

	reqs := f.received()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/predict" {
		t.Errorf("request = %s %s, want POST /predict", r.method, r.path)
	}
	if q := r.query.Encode(); q != "contributions=true&interval=prediction" {
		t.Errorf("query = %q", q)
	}
	for name, want := range map[string]string{
		requestid.Header: "req-123",
		"Content-Type":   "application/json",
		"Accept":         "application/json, application/problem+json",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "penguins-modelapi/") {
		t.Errorf("User-Agent = %q", ua)
	}
	var sent []Record
	if err := json.Unmarshal(r.body, &sent); err != nil || !slices.Equal(sent, testRecords) {
		t.Errorf("body = %s (%v), want the records as a JSON array", r.body, err)
	}
}

func TestPredictWithoutOptionsSendsNoQuery(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, PredictResponse{Predict: []float64{3800}})
	})
	c, _ := newTestClient(t, f.URL, ClientOptions{})
	if _, err := c.Predict(t.Context(), testRecords[:1], PredictOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := f.received()[0]; len(r.query) != 0 || r.header.Get(requestid.Header) != "" {
		t.Errorf("query = %v, %s = %q; want neither", r.query, requestid.Header, r.header.Get(requestid.Header))
	}
}

func TestPredictCountMismatch(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, PredictResponse{Predict: []float64{3800}})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	_, err := c.Predict(t.Context(), testRecords, PredictOptions{})
	if err == nil || !strings.Contains(err.Error(), "1 predictions for 2 records") || Unavailable(err) {
		t.Fatalf("err = %v, want a decode error that is not Unavailable", err)
	}
	checkStat(t, cs, "predict", http.StatusOK, 1, err)
}

func TestMetadata(t *testing.T) {
	want := Metadata{
		Name: "body-mass", Version: "20250101T000000Z-abc",
		Serving: Serving{LoadedFrom: "/models/current.json", Pinned: true, MaxRows: 1000},
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, want)
	})
	c, cs := newTestClient(t, f.URL+"/", ClientOptions{})

	got, err := c.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.Version != want.Version || got.Serving.LoadedFrom != want.Serving.LoadedFrom || got.Serving.MaxRows != 1000 {
		t.Errorf("Metadata = %+v, want %+v", got, want)
	}
	checkStat(t, cs, "metadata", http.StatusOK, 1, nil)
	r := f.received()[0]
	if r.method != http.MethodGet || r.path != "/metadata" || r.header.Get("Content-Type") != "" || len(r.body) != 0 {
		t.Errorf("request = %s %s, Content-Type %q, body %q; want GET /metadata without a body", r.method, r.path, r.header.Get("Content-Type"), r.body)
	}
}

func TestDiagnostics(t *testing.T) {
	want := Diagnostics{Model: "penguin_model", Version: "20250101T000000Z-abc", Available: true, Source: DiagnosticsFromArtifact,
		Rows: []DiagnosticRow{{BillLengthMM: 39.1, Species: "Adelie", Sex: "male", BodyMassG: 3750, Fitted: 3700.5, Residual: 49.5}}}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, http.StatusServiceUnavailable, Problem{Status: 503, Title: "Model not ready"})
			return
		}
		writeJSON(w, http.StatusOK, want)
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	got, err := c.Diagnostics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != want.Version || !got.Available || len(got.Rows) != 1 || got.Rows[0] != want.Rows[0] {
		t.Errorf("Diagnostics = %+v, want %+v", got, want)
	}
	checkStat(t, cs, "diagnostics", http.StatusOK, 2, nil)
	for _, r := range f.received() {
		if r.method != http.MethodGet || r.path != "/diagnostics" || len(r.body) != 0 {
			t.Errorf("request = %s %s %q, want GET /diagnostics", r.method, r.path, r.body)
		}
	}
}

func TestBaseURLPathPrefix(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, Metadata{})
	})
	c, _ := newTestClient(t, f.URL+"/model/", ClientOptions{})
	if _, err := c.Metadata(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := f.received()[0].path; p != "/model/metadata" {
		t.Errorf("path = %q, want /model/metadata", p)
	}
}

func TestReady(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSON(w, http.StatusOK, Health{Status: "ready", Version: "v1"})
		})
		c, cs := newTestClient(t, f.URL, ClientOptions{})
		h, err := c.Ready(t.Context())
		if err != nil || h.Status != "ready" || h.Version != "v1" {
			t.Fatalf("Ready = %+v, %v", h, err)
		}
		checkStat(t, cs, "ready", http.StatusOK, 1, nil)
		if r := f.received()[0]; r.method != http.MethodGet || r.path != "/readyz" {
			t.Errorf("request = %s %s, want GET /readyz", r.method, r.path)
		}
	})
	for _, status := range []string{"loading", "draining"} {
		t.Run(status, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, http.StatusServiceUnavailable, Health{Status: status, Reason: "not now"})
			})
			c, cs := newTestClient(t, f.URL, ClientOptions{})
			h, err := c.Ready(t.Context())
			if h == nil || h.Status != status {
				t.Errorf("Health = %+v, want status %q", h, status)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !Unavailable(err) {
				t.Errorf("err = %v, want an Unavailable *APIError with status 503", err)
			}
			// A 503 from /readyz is an answer: not retried.
			if n := len(f.received()); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
			checkStat(t, cs, "ready", http.StatusServiceUnavailable, 1, err)
		})
	}
}

func TestPredictInvalidInput(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeProblem(w, Problem{
			Type: "/docs#problem-invalid-input", Title: "Invalid input", Status: http.StatusUnprocessableEntity,
			Detail: "1 invalid field(s) in 1 record(s)", Instance: "/predict", RequestID: "req-1",
			Errors: []FieldError{{Pointer: "/species", Detail: `unknown species "Emperor"`, Expected: "a species", Allowed: []string{"Adelie", "Chinstrap", "Gentoo"}}},
		})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})

	_, err := c.Predict(t.Context(), []Record{{BillLengthMM: 40, Species: "Emperor", Sex: "male"}}, PredictOptions{})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *APIError", err)
	}
	if ae.Op != "predict" || ae.Status != http.StatusUnprocessableEntity || ae.Problem == nil || len(ae.Problem.Errors) != 1 || ae.Problem.RequestID != "req-1" {
		t.Errorf("APIError = %+v", ae)
	}
	const want = `model API predict: 422 Invalid input: 1 invalid field(s) in 1 record(s): /species: unknown species "Emperor", expected a species (Adelie, Chinstrap, Gentoo)`
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	if Unavailable(err) {
		t.Error("Unavailable(422) = true")
	}
	if n := len(f.received()); n != 1 {
		t.Errorf("server got %d requests, want 1 (a 422 is not retried)", n)
	}
	checkStat(t, cs, "predict", http.StatusUnprocessableEntity, 1, err)
}

func TestAPIErrorText(t *testing.T) {
	var many []FieldError
	for _, p := range []string{"/0/species", "/1/species", "/2/species", "/3/species", "/4/species", "/5/species", "/6/species"} {
		many = append(many, FieldError{Pointer: p, Detail: "missing"})
	}
	for _, tc := range []struct {
		name string
		err  *APIError
		want string
	}{
		{"capped list", &APIError{Op: "predict", Status: 422, Problem: &Problem{Title: "Invalid input", Detail: "7 invalid field(s) in 7 record(s)", Errors: many}},
			"model API predict: 422 Invalid input: 7 invalid field(s) in 7 record(s): /0/species: missing; /1/species: missing; /2/species: missing; /3/species: missing; /4/species: missing; and 2 more"},
		{"whole body", &APIError{Op: "predict", Status: 422, Problem: &Problem{Title: "Invalid input", Detail: "1 invalid field(s) in 0 record(s)", Errors: []FieldError{{Detail: "empty array", Expected: "at least one record"}}}},
			"model API predict: 422 Invalid input: 1 invalid field(s) in 0 record(s): (body): empty array, expected at least one record"},
		{"no problem", &APIError{Op: "metadata", Status: 502, Body: "<html>\n  upstream   down\n</html>\n"},
			"model API metadata: 502 Bad Gateway: <html> upstream down </html>"},
		{"empty body", &APIError{Op: "ready", Status: 504}, "model API ready: 504 Gateway Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestNewAPIErrorDecodesProblems(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		wantProblem             bool
	}{
		{"problem+json", "application/problem+json", `{"type":"/docs#problem-not-ready","title":"Model not ready","status":503}`, true},
		{"json with a title", "application/json", `{"title":"Bad request","status":400}`, true},
		{"health body", "application/json", `{"status":"loading","reason":"no model yet"}`, false},
		{"html", "text/html", `<h1>bad gateway</h1>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tc.contentType}}
			e := newAPIError("predict", answer{status: 503, header: h, body: []byte(tc.body)})
			if (e.Problem != nil) != tc.wantProblem || e.Body != tc.body {
				t.Errorf("APIError = %+v, want problem decoded: %v", e, tc.wantProblem)
			}
		})
	}
	long := strings.Repeat("é", 3000) // 6000 bytes of two-byte runes
	e := newAPIError("predict", answer{status: 500, header: http.Header{}, body: []byte(long)})
	if len(e.Body) > 4<<10 || !strings.HasPrefix(long, e.Body) || !strings.HasSuffix(e.Body, "é") {
		t.Errorf("Body is %d bytes; want at most 4 KiB cut between runes", len(e.Body))
	}
}

func TestRetryThenSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			notReady(w) // with Retry-After: 1, capped by MaxBackoff
			return
		}
		writeJSON(w, http.StatusOK, PredictResponse{Predict: []float64{3800, 5000}})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})

	start := time.Now()
	if _, err := c.Predict(t.Context(), testRecords, PredictOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("call took %v; Retry-After must not outlast MaxBackoff", d)
	}
	reqs := f.received()
	if len(reqs) != 2 {
		t.Fatalf("server got %d requests, want 2", len(reqs))
	}
	if len(reqs[1].body) == 0 || string(reqs[0].body) != string(reqs[1].body) {
		t.Errorf("retry sent body %q, first attempt %q; want the same", reqs[1].body, reqs[0].body)
	}
	checkStat(t, cs, "predict", http.StatusOK, 2, nil)
}

func TestStatusRetries(t *testing.T) {
	for _, tc := range []struct {
		status       int
		wantAttempts int
		unavailable  bool
	}{
		{http.StatusBadRequest, 1, false},
		{http.StatusNotFound, 1, false},
		{http.StatusRequestEntityTooLarge, 1, false},
		{http.StatusUnprocessableEntity, 1, false},
		{http.StatusInternalServerError, 1, false},
		{http.StatusBadGateway, 3, true},
		{http.StatusServiceUnavailable, 3, true},
		{http.StatusGatewayTimeout, 3, true},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeProblem(w, Problem{Title: http.StatusText(tc.status), Status: tc.status})
			})
			c, cs := newTestClient(t, f.URL, ClientOptions{}) // Retries: the default, 2

			_, err := c.Predict(t.Context(), testRecords, PredictOptions{})
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Fatalf("err = %v, want an *APIError with status %d", err, tc.status)
			}
			if Unavailable(err) != tc.unavailable {
				t.Errorf("Unavailable = %v, want %v", !tc.unavailable, tc.unavailable)
			}
			if n := len(f.received()); n != tc.wantAttempts {
				t.Errorf("server got %d requests, want %d", n, tc.wantAttempts)
			}
			checkStat(t, cs, "predict", tc.status, tc.wantAttempts, err)
		})
	}
}

func TestNegativeRetriesMeansNone(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { notReady(w) })
	c, cs := newTestClient(t, f.URL, ClientOptions{Retries: -1})
	_, err := c.Metadata(t.Context())
	if !Unavailable(err) {
		t.Errorf("err = %v, want Unavailable", err)
	}
	if n := len(f.received()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
	checkStat(t, cs, "metadata", http.StatusServiceUnavailable, 1, err)
}

func TestAttemptTimeout(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done(): // the client gave up on the attempt
		case <-time.After(5 * time.Second):
		}
	})
	// Long enough for each attempt to reach the server on a loaded machine,
	// far below the handler's 5 s.
	c, cs := newTestClient(t, f.URL, ClientOptions{Timeout: 250 * time.Millisecond, Retries: 1})

	start := time.Now()
	_, err := c.Predict(t.Context(), testRecords, PredictOptions{})
	if !Unavailable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want an Unavailable deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("call took %v; each attempt should stop after 250ms", d)
	}
	if n := len(f.received()); n != 2 {
		t.Errorf("server got %d requests, want 2", n)
	}
	checkStat(t, cs, "predict", 0, 2, err)
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens at its address now

	c, cs := newTestClient(t, srv.URL, ClientOptions{})
	_, err := c.Predict(t.Context(), testRecords, PredictOptions{})
	if !Unavailable(err) || !strings.Contains(err.Error(), "model API predict: no answer in 3 attempt(s)") {
		t.Errorf("err = %v, want Unavailable after 3 attempts", err)
	}
	checkStat(t, cs, "predict", 0, 3, err)
}

func TestCallerCancelStopsRetries(t *testing.T) {
	answered := make(chan struct{}, 1)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		notReady(w)
		answered <- struct{}{}
	})
	// Without the cancel, the client would wait 5-10s before its retry.
	c, cs := newTestClient(t, f.URL, ClientOptions{Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-answered
		cancel()
	}()

	start := time.Now()
	_, err := c.Predict(ctx, testRecords, PredictOptions{})
	if !errors.Is(err, context.Canceled) || Unavailable(err) {
		t.Errorf("err = %v, want context.Canceled and not Unavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("call took %v after the cancel", d)
	}
	if n := len(f.received()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
	if s := cs.one(t); s.Attempts != 1 || s.Err != err {
		t.Errorf("CallStat = %+v", s)
	}
}

func TestNoRetryPastCallerDeadline(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { notReady(w) })
	c, _ := newTestClient(t, f.URL, ClientOptions{Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	// The wait before a retry (5-10s) outlasts the deadline, so the client
	// gives up at once with the service's answer, not the deadline.
	_, err := c.Predict(ctx, testRecords, PredictOptions{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !Unavailable(err) {
		t.Errorf("err = %v, want the 503 *APIError", err)
	}
	if n := len(f.received()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 5 { // so no call can fail more than its 5 retries
			notReady(w)
			return
		}
		writeJSON(w, http.StatusOK, PredictResponse{Predict: []float64{3800, 5000}})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{Retries: 5})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Predict(t.Context(), testRecords, PredictOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.stats) != 20 {
		t.Errorf("OnCall called %d times, want 20", len(cs.stats))
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{context.Canceled, false},
		{&APIError{Status: 503}, true},
		{&APIError{Status: 500}, false},
		{&noAnswerError{op: "predict", attempts: 1, err: io.EOF}, true},
	} {
		wrapped := tc.err
		if wrapped != nil {
			wrapped = errors.Join(errors.New("frontend"), tc.err)
		}
		if got := Unavailable(wrapped); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", wrapped, got, tc.want)
		}
	}
}

func TestNewClient(t *testing.T) {
	for _, bad := range []ClientOptions{
		{},
		{BaseURL: "localhost:8080"},
		{BaseURL: "ftp://model"},
		{BaseURL: "http://"},
		{BaseURL: "http://model?x=1"},
		{BaseURL: "http://model?"},
		{BaseURL: "http://model#top"},
		{BaseURL: "http://model", Timeout: -time.Second},
	} {
		if _, err := NewClient(bad); err == nil {
			t.Errorf("NewClient(%+v) succeeded, want an error", bad)
		}
	}
	for in, want := range map[string]string{
		"http://localhost:8080":      "http://localhost:8080",
		"http://localhost:8080/":     "http://localhost:8080",
		"https://gw.example/model//": "https://gw.example/model",
	} {
		c, err := NewClient(ClientOptions{BaseURL: in})
		if err != nil {
			t.Errorf("NewClient(%q): %v", in, err)
		} else if c.BaseURL() != want {
			t.Errorf("NewClient(%q).BaseURL() = %q, want %q", in, c.BaseURL(), want)
		}
	}
	c, err := NewClient(ClientOptions{BaseURL: "http://model"})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != 2*time.Second || c.retries != 2 || c.backoff != 100*time.Millisecond || c.maxBackoff != time.Second || c.http == nil {
		t.Errorf("defaults: %+v", c)
	}
}

func TestWait(t *testing.T) {
	c, err := NewClient(ClientOptions{BaseURL: "http://model", Backoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		retry      int
		retryAfter string
		lo, hi     time.Duration
	}{
		{1, "", 50 * ms, 100 * ms},
		{2, "", 100 * ms, 200 * ms},
		{4, "", 400 * ms, 800 * ms},
		{5, "", 500 * ms, time.Second}, // capped
		{60, "", 500 * ms, time.Second},
		{1, "0", 50 * ms, 100 * ms},
		{1, "soon", 50 * ms, 100 * ms},
		{1, "1", time.Second, time.Second},
		{1, "3600", time.Second, time.Second}, // never past MaxBackoff
		{1, "99999999999999", time.Second, time.Second},
	} {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		for range 50 {
			if d := c.wait(tc.retry, h); d < tc.lo || d > tc.hi {
				t.Errorf("wait(%d, Retry-After %q) = %v, want within [%v, %v]", tc.retry, tc.retryAfter, d, tc.lo, tc.hi)
				break
			}
		}
	}
}

func TestAliases(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	want := Aliases{
		Aliases: map[string]string{"champion": "20261130T080000Z-bbb"},
		History: []Promotion{{Time: at, Alias: "champion", From: "20261129T080000Z-aaa", To: "20261130T080000Z-bbb", Actor: "ana", Reason: "better on 2009", Forced: true}},
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, want)
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	got, err := c.Aliases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Aliases) != 1 || got.Aliases["champion"] != want.Aliases["champion"] || len(got.History) != 1 || got.History[0] != want.History[0] {
		t.Errorf("Aliases = %+v, want %+v", got, want)
	}
	checkStat(t, cs, "aliases", http.StatusOK, 1, nil)
	if r := f.received()[0]; r.method != http.MethodGet || r.path != "/aliases" || len(r.body) != 0 {
		t.Errorf("request = %s %s %q, want GET /aliases", r.method, r.path, r.body)
	}
}

func TestAliasesRouteMissing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusNotFound, Problem{Status: 404, Title: "Not Found"})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	got, err := c.Aliases(t.Context())
	ae, ok := errors.AsType[*APIError](err)
	if got != nil || !ok || ae.Status != http.StatusNotFound || ae.Op != "aliases" {
		t.Fatalf("Aliases = %+v, %v; want an *APIError 404 from op aliases", got, err)
	}
	checkStat(t, cs, "aliases", http.StatusNotFound, 1, err)
}

func TestShadow(t *testing.T) {
	mean, upper := -1.5, 1.0
	body := `{"status":"ok","alias":"challenger","sample_rate":0.1,"champion":"20261130T080000Z-bbb","challenger":"20261130T090000Z-ccc",
		"records":2,"scored_total":2,"dropped_total":1,"mean_difference_g":-1.5,"mean_abs_difference_g":1.5,"max_abs_difference_g":2,
		"abs_difference_quantiles":[{"quantile":0.5,"value_g":1}],"buckets":[{"lower_g":0,"upper_g":1,"count":1},{"lower_g":1,"count":1}]}`
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	got, err := c.Shadow(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ShadowOK || got.Challenger != "20261130T090000Z-ccc" || got.Records != 2 || got.DroppedTotal != 1 ||
		got.MeanDifference == nil || *got.MeanDifference != mean || len(got.Buckets) != 2 || *got.Buckets[0].Upper != upper || got.Buckets[1].Upper != nil {
		t.Errorf("Shadow = %+v", got)
	}
	checkStat(t, cs, "shadow", http.StatusOK, 1, nil)
	if r := f.received()[0]; r.method != http.MethodGet || r.path != "/monitoring/shadow" {
		t.Errorf("request = %s %s, want GET /monitoring/shadow", r.method, r.path)
	}
}

func TestShadowRouteMissing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusNotFound, Problem{Status: 404, Title: "Not Found"})
	})
	c, cs := newTestClient(t, f.URL, ClientOptions{})
	got, err := c.Shadow(t.Context())
	ae, ok := errors.AsType[*APIError](err)
	if got != nil || !ok || ae.Status != http.StatusNotFound || ae.Op != "shadow" {
		t.Fatalf("Shadow = %+v, %v; want an *APIError 404 from op shadow", got, err)
	}
	checkStat(t, cs, "shadow", http.StatusNotFound, 1, err)
}

// The key goes with every call, as a bearer token; a 401 or 403 is an auth
// failure, not unavailability, and is not retried.
func TestAPIKey(t *testing.T) {
	const key = "k3y-0123456789abcdefghijklmnopqrstuvwxyz"
	var calls, authed int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"type": "/docs#problem-unauthorized", "title": "Unauthorized", "status": 401, "detail": "the API key is not valid (unknown or revoked)"}`)
			return
		}
		authed++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status": "ready", "version": "v"}`)
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{BaseURL: srv.URL, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ready(context.Background()); err != nil || authed != 1 {
		t.Fatalf("with the key: %v (%d authenticated calls)", err, authed)
	}
	wrong, _ := NewClient(ClientOptions{BaseURL: srv.URL, APIKey: "wrong-0123456789abcdefghijklmnopqrstuvwxyz", Retries: 3})
	calls = 0
	_, err = wrong.Metadata(context.Background())
	if !AuthFailed(err) || Unavailable(err) || calls != 1 || !strings.Contains(err.Error(), "401 Unauthorized: the API key is not valid") {
		t.Errorf("with a wrong key: %v (AuthFailed %v, Unavailable %v, %d calls)", err, AuthFailed(err), Unavailable(err), calls)
	}
	if AuthFailed(&APIError{Status: 503}) || !AuthFailed(errors.Join(errors.New("x"), &APIError{Status: 403})) || AuthFailed(nil) {
		t.Error("AuthFailed misreads statuses")
	}
	if _, err := NewClient(ClientOptions{BaseURL: srv.URL, APIKey: "bad key"}); err == nil {
		t.Error("a key with a space was accepted")
	}
}
