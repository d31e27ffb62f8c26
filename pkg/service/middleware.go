package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/requestid"
)

// requestIDKey is the X-Request-ID header's canonical key, for reading and
// setting it without canonicalising it on every request.
var requestIDKey = http.CanonicalHeaderKey(requestid.Header)

// RequestID returns the request id of c ("" outside Observe).
func RequestID(c echo.Context) string { return requestid.From(c.Request().Context()) }

// request is the context Observe gives a request: its id and the name of
// the API key it presented, in one allocation with the context rather
// than a context value and an Echo store each, which would cost three
// more allocations a request.
type request struct {
	context.Context
	id, apiKey string
	header     [1]string // the X-Request-ID header's value: id
}

func (r *request) RequestID() string { return r.id }

func (r *request) Value(key any) any {
	if _, ok := key.(requestid.Key); ok {
		return r
	}
	return r.Context.Value(key)
}

// inFlight returns the request Observe made of c's, or nil outside Observe.
func inFlight(c echo.Context) *request {
	r, _ := c.Request().Context().Value(requestid.Key{}).(*request)
	return r
}

// SetAPIKey records the name of the API key a request presented, for the
// access line. Only a key's name is ever recorded, never the key.
func SetAPIKey(c echo.Context, name string) {
	if r := inFlight(c); r != nil {
		r.apiKey = name
	}
}

// APIKey returns the name SetAPIKey recorded, or "".
func APIKey(c echo.Context) string {
	if r := inFlight(c); r != nil {
		return r.apiKey
	}
	return ""
}

// HTTPMetrics are the request counters and latency histograms by route,
// method and status code.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge

	// The children of requests and latency by label values, so that a
	// request costs a map lookup rather than hashing its labels twice and
	// formatting its status code.
	mu       sync.RWMutex
	children map[routeKey]routeMetrics
}

type routeKey struct {
	route, method string
	status        int
}

type routeMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// observe counts and times one request. Methods outside the standard set
// count as "other", so clients cannot grow the label set at will.
func (m *HTTPMetrics) observe(route, method string, status int, elapsed time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "other"
	}
	k := routeKey{route, method, status}
	m.mu.RLock()
	rm, ok := m.children[k]
	m.mu.RUnlock()
	if !ok {
		code := strconv.Itoa(status)
		rm = routeMetrics{m.requests.WithLabelValues(route, method, code), m.latency.WithLabelValues(route, method, code)}
		m.mu.Lock()
		m.children[k] = rm
		m.mu.Unlock()
	}
	rm.requests.Inc()
	rm.latency.Observe(elapsed.Seconds())
}

// NewHTTPMetrics registers the HTTP metrics with reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		children: map[routeKey]routeMetrics{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency, by route template, method and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// Observe is the one middleware both services wrap every request in: it
// assigns the request id (honouring a valid incoming X-Request-ID and
// echoing it), turns a panic into a 500, hands errors to Echo's error
// handler, counts and times the request, and writes one access-log line.
func Observe(log *zap.Logger, m *HTTPMetrics) echo.MiddlewareFunc {
	var access *Event // the fast path's access line; nil: through zap
	if lines := LinesFor(log); lines != nil {
		access = lines.Event("request")
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			var id string
			if v := req.Header[requestIDKey]; len(v) > 0 {
				id = v[0] // Get would canonicalise the key again, allocating
			}
			if !requestid.Valid(id) {
				id = requestid.New()
			}
			r := &request{Context: req.Context(), id: id, header: [1]string{id}}
			c.Response().Header()[requestIDKey] = r.header[:]
			c.SetRequest(req.WithContext(r))
			m.inflight.Inc()
			err := call(log, next, c, id)
			// A client that went away before its answer was written (its
			// connection closed, so the server cancelled the request's
			// context) made the request fail, not the server: there is
			// nobody to answer, and the error handler would log the
			// failure as ours. A complete answer keeps its status.
			// A 4xx the handler chose (a body that timed out, which also
			// cancels the context) is still answered and logged as such.
			gone := (err != nil && !clientError(err) || c.Response().Status >= http.StatusInternalServerError) && ClientGone(c.Request().Context())
			if err != nil && !gone {
				c.Error(err) // writes the response through the HTTPErrorHandler
			}
			m.inflight.Dec()

			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			status := c.Response().Status
			if gone {
				status = StatusClientClosedRequest
			}
			end := time.Now() // also the access line's time
			elapsed := end.Sub(start)
			m.observe(route, req.Method, status, elapsed)
			lvl := zap.InfoLevel
			if status >= http.StatusInternalServerError {
				lvl = zap.ErrorLevel
			}
			// The entry is made only for a line that is written: the
			// client's address takes work (trusted proxies).
			entry := func() accessEntry {
				return accessEntry{
					id: id, method: req.Method, route: route, uri: Clip(req.RequestURI, maxLoggedURI), status: status, latency: elapsed,
					bytesIn: req.ContentLength, bytesOut: c.Response().Size, remote: c.RealIP(), apiKey: r.apiKey,
				}
			}
			if lvl == zap.InfoLevel && access != nil {
				a := entry()
				a.write(access.At(end))
			} else if ce := log.Check(lvl, "request"); ce != nil {
				a := entry()
				ce.Write(zap.Inline(&a))
			}
			return nil
		}
	}
}

// clientError reports whether err is an answer in the 4xx range that a
// handler chose: an *echo.HTTPError, or an error with an HTTPStatus method.
func clientError(err error) bool {
	status := 0
	var he *echo.HTTPError
	var hs interface{ HTTPStatus() int }
	switch {
	case errors.As(err, &he):
		status = he.Code
	case errors.As(err, &hs):
		status = hs.HTTPStatus()
	}
	return status >= 400 && status < 500
}

// StatusClientClosedRequest is the status the access log and the metrics
// give a request whose client closed its connection before the answer was
// written: nginx's 499, which Echo's proxy middleware uses too. It is no
// HTTP status (nothing is sent); it keeps the client's doing out of the 5xx
// counts and error logs.
const StatusClientClosedRequest = 499

// ClientGone reports whether the client of the request that ctx belongs
// to has closed its connection (or the server is closing it): work for it
// can stop, and its failure is not the server's.
func ClientGone(ctx context.Context) bool {
	return ctx.Err() != nil && context.Cause(ctx) == context.Canceled
}

// maxLoggedURI bounds the request URI in the access log: a client can
// send tens of KiB of request line, and a log line must stay small.
const maxLoggedURI = 1024

// Clip returns s for showing in a page or a log line: at most n bytes of
// it, cut on a character boundary, with its full length stated when cut,
// and invalid UTF-8 replaced by U+FFFD. What a client sends must not be
// able to make an answer or a log line large.
func Clip(s string, n int) string {
	if len(s) <= n && utf8.ValidString(s) {
		return s
	}
	p := s
	if len(p) > n {
		cut := n
		for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(p[cut]) {
			cut--
		}
		p = p[:cut]
	}
	p = strings.ToValidUTF8(p, "\uFFFD")
	if len(s) > n {
		p += "… (" + strconv.Itoa(len(s)) + " bytes)"
	}
	return p
}

// call runs the handler, turning a panic into an error.
func call(log *zap.Logger, next echo.HandlerFunc, c echo.Context, id string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic", zap.String("request_id", id), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return next(c)
}

// accessEntry is the access line's fields, as one object: one small
// allocation per request instead of a slice of nine fields.
type accessEntry struct {
	id, method, route, uri, remote string
	apiKey                         string // the key's name; "" when none was recognised
	status                         int
	latency                        time.Duration
	bytesIn, bytesOut              int64
}

// write writes the access line through the fast path, with the fields of
// MarshalLogObject in its order.
func (a *accessEntry) write(ln Line) {
	ln = ln.Str(keyRequestID, a.id).Str(keyMethod, a.method).Str(keyRoute, a.route).Str(keyURI, a.uri).
		Int(keyStatus, int64(a.status)).Millis(keyLatency, a.latency).
		Int(keyBytesIn, a.bytesIn).Int(keyBytesOut, a.bytesOut).Str(keyRemote, a.remote)
	if a.apiKey != "" {
		ln = ln.Str(keyAPIKey, a.apiKey)
	}
	ln.Write()
}

// The access line's keys, for its fast path.
var (
	keyRequestID, keyMethod, keyRoute, keyURI = NewKey("request_id"), NewKey("method"), NewKey("route"), NewKey("uri")
	keyStatus, keyLatency, keyBytesIn         = NewKey("status"), NewKey("latency_ms"), NewKey("bytes_in")
	keyBytesOut, keyRemote, keyAPIKey         = NewKey("bytes_out"), NewKey("remote"), NewKey("api_key")
)

func (a *accessEntry) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("request_id", a.id)
	enc.AddString("method", a.method)
	enc.AddString("route", a.route)
	enc.AddString("uri", a.uri)
	enc.AddInt("status", a.status)
	enc.AddDuration("latency_ms", a.latency)
	enc.AddInt64("bytes_in", a.bytesIn)
	enc.AddInt64("bytes_out", a.bytesOut)
	enc.AddString("remote", a.remote)
	if a.apiKey != "" {
		enc.AddString("api_key", a.apiKey)
	}
	return nil
}
