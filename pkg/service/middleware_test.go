package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/palmerops/penguins/pkg/requestid"
)

// TestObserveRequestIDHeader: the id is set under the canonical key, so
// in-process readers find it and a later Set replaces it rather than
// adding a second header.
func TestObserveRequestIDHeader(t *testing.T) {
	e := echo.New()
	e.Use(Observe(zaptest.NewLogger(t), NewHTTPMetrics(prometheus.NewRegistry())))
	e.GET("/", func(c echo.Context) error {
		if got := c.Response().Header().Get(requestid.Header); got != "abc" || got != RequestID(c) {
			t.Errorf("inside the handler: header %q, RequestID %q", got, RequestID(c))
		}
		return c.NoContent(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(requestid.Header, "abc")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if vals := rec.Header().Values(requestid.Header); len(vals) != 1 || vals[0] != "abc" {
		t.Errorf("X-Request-ID = %q, want one \"abc\"", vals)
	}
}

// TestObserveContext: the context Observe gives a request carries the id
// to contexts derived from it, takes the API key's name to the access line,
// and still ends when the request's own context does.
func TestObserveContext(t *testing.T) {
	o := newObserved(t)
	o.e.GET("/", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), time.Minute)
		defer cancel()
		if got := requestid.From(ctx); got != "abc" {
			t.Errorf("requestid.From a derived context = %q, want abc", got)
		}
		if ctx.Err() == nil || context.Cause(ctx) != context.Canceled {
			t.Errorf("the request's context ended, a derived one did not: %v", ctx.Err())
		}
		SetAPIKey(c, "reader")
		if got := APIKey(c); got != "reader" {
			t.Errorf("APIKey = %q", got)
		}
		return c.NoContent(http.StatusNoContent)
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	req.Header.Set(requestid.Header, "abc")
	o.e.ServeHTTP(httptest.NewRecorder(), req)
	lines := o.logs.FilterMessage("request").All()
	if len(lines) != 1 || lines[0].ContextMap()["api_key"] != "reader" || lines[0].ContextMap()["request_id"] != "abc" {
		t.Errorf("access lines: %v, want one naming the key and the id", lines)
	}
	if got := APIKey(echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), nil)); got != "" {
		t.Errorf("APIKey outside Observe = %q", got)
	}
}

// observed is an echo server wrapped in Observe, with its log and metrics.
type observed struct {
	e    *echo.Echo
	logs *observer.ObservedLogs
	reg  *prometheus.Registry
}

func newObserved(t *testing.T) observed {
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	e := echo.New()
	e.Use(Observe(zap.New(core), NewHTTPMetrics(reg)))
	return observed{e, logs, reg}
}

// requests returns the http_requests_total counts by status code.
func (o observed) requests(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestObserveClientGone: a client that hangs up while its request is in
// progress is logged at info with status 499 and counted as such, whether
// the handler then fails (an upstream call cancelled with the request) or
// writes a 5xx page; nothing is logged at error level. Before, the first
// went through the error handler as a 500.
func TestObserveClientGone(t *testing.T) {
	o := newObserved(t)
	entered := make(chan struct{}, 2)
	o.e.GET("/fails", func(c echo.Context) error {
		entered <- struct{}{}
		<-c.Request().Context().Done()
		return fmt.Errorf("upstream call: %w", c.Request().Context().Err())
	})
	o.e.GET("/unavailable", func(c echo.Context) error {
		entered <- struct{}{}
		<-c.Request().Context().Done()
		return c.String(http.StatusServiceUnavailable, "the upstream did not answer")
	})
	ts := httptest.NewServer(o.e)
	defer ts.Close()
	for _, path := range []string{"/fails", "/unavailable"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
		go func() { <-entered; cancel() }()
		if _, err := ts.Client().Do(req); err == nil {
			t.Fatalf("%s: the request was not cancelled", path)
		}
	}
	// The access lines are written after the handlers return; wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for o.logs.FilterMessage("request").Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := o.logs.FilterMessage("request").All()
	if len(lines) != 2 {
		t.Fatalf("%d access lines, want 2", len(lines))
	}
	for _, l := range lines {
		if l.Level != zapcore.InfoLevel || l.ContextMap()["status"] != StatusClientClosedRequest {
			t.Errorf("access line %s %v, want info with status 499", l.Level, l.ContextMap())
		}
	}
	if n := o.logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d error lines for requests their clients abandoned", n)
	}
	if got := o.requests(t); got["499"] != 2 || len(got) != 1 {
		t.Errorf("requests by code %v, want 2 × 499", got)
	}
}

// TestObserveClipsTheURI: a request line of tens of KiB does not make an
// access line of tens of KiB.
func TestObserveClipsTheURI(t *testing.T) {
	o := newObserved(t)
	path := "/" + strings.Repeat("a", 60<<10)
	rec := httptest.NewRecorder()
	o.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?q=1", nil))
	lines := o.logs.FilterMessage("request").All()
	if len(lines) != 1 {
		t.Fatalf("%d access lines", len(lines))
	}
	uri, _ := lines[0].ContextMap()["uri"].(string)
	if len(uri) > maxLoggedURI+32 || !strings.HasPrefix(uri, "/aaa") || !strings.Contains(uri, fmt.Sprintf("(%d bytes)", len(path)+4)) {
		t.Errorf("uri of %d bytes logged as %d bytes: %.80q…", len(path)+4, len(uri), uri)
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc… (6 bytes)"},
		{"ééé", 3, "é… (6 bytes)"}, // not cut inside a character
		{"a\xffb", 10, "a\uFFFDb"},
		{strings.Repeat("\xff", 100), 4, "\uFFFD… (100 bytes)"},
	} {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// TestGETAnswersHead: a route added with GET answers HEAD with GET's
// status and headers and no body, over a real connection.
func TestGETAnswersHead(t *testing.T) {
	o := newObserved(t)
	GET(o.e, "/doc", func(c echo.Context) error {
		c.Response().Header().Set("ETag", `"v1"`)
		return c.String(http.StatusOK, "the document")
	})
	o.e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "x") })
	ts := httptest.NewServer(o.e)
	defer ts.Close()
	resp, err := ts.Client().Head(ts.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != `"v1"` ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || resp.ContentLength != int64(len("the document")) {
		t.Errorf("HEAD /doc: %d, %d body bytes, length %d, headers %v", resp.StatusCode, len(body), resp.ContentLength, resp.Header)
	}
	if got := GetWithoutHead(o.e); len(got) != 1 || got[0] != "/plain" {
		t.Errorf("GetWithoutHead = %v, want [/plain]", got)
	}
}

// TestIPExtractor: forwarded addresses count only from trusted proxies.
func TestIPExtractor(t *testing.T) {
	var trusted IPRanges
	if err := trusted.Decode("10.0.0.0/8,2001:db8::/32"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		trusted  IPRanges
		peer     string
		xff, xri string
		want     string
	}{
		{nil, "203.0.113.9:5000", "198.51.100.1", "", "203.0.113.9"},
		{nil, "127.0.0.1:5000", "198.51.100.1", "198.51.100.2", "127.0.0.1"}, // not even from loopback by default
		{nil, "10.1.2.3:5000", "", "198.51.100.2", "10.1.2.3"},
		{trusted, "10.1.2.3:5000", "198.51.100.1", "", "198.51.100.1"},
		{trusted, "10.1.2.3:5000", "198.51.100.66, 198.51.100.1, 10.9.9.9", "", "198.51.100.1"}, // the nearest untrusted hop
		{trusted, "[2001:db8::1]:5000", "198.51.100.1", "", "198.51.100.1"},
		{trusted, "10.1.2.3:5000", "", "198.51.100.2", "198.51.100.2"},
		{trusted, "203.0.113.9:5000", "198.51.100.1", "198.51.100.2", "203.0.113.9"}, // an untrusted peer's headers
		{trusted, "127.0.0.1:5000", "198.51.100.1", "", "127.0.0.1"},                 // loopback only when listed
		{trusted, "10.1.2.3:5000", "not-an-address", "", "10.1.2.3"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.peer
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.xri != "" {
			req.Header.Set("X-Real-IP", c.xri)
		}
		if got := IPExtractor(c.trusted)(req); got != c.want {
			t.Errorf("trusting %v, peer %s, X-Forwarded-For %q, X-Real-IP %q: %q, want %q", c.trusted, c.peer, c.xff, c.xri, got, c.want)
		}
	}
}

// TestObserveLogsThePeer: with an echo's IPExtractor from IPExtractor(nil),
// the access line has the peer address, not the one a client claims.
func TestObserveLogsThePeer(t *testing.T) {
	o := newObserved(t)
	o.e.IPExtractor = IPExtractor(nil)
	o.e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "203.0.113.9:5000"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	req.Header.Set("X-Real-IP", "1.2.3.5")
	o.e.ServeHTTP(httptest.NewRecorder(), req)
	if got := o.logs.FilterMessage("request").All()[0].ContextMap()["remote"]; got != "203.0.113.9" {
		t.Errorf("remote %v, want the peer 203.0.113.9", got)
	}
}
