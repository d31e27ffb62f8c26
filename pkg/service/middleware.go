package service

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/requestid"
)

// requestIDKey is the X-Request-ID header's canonical key, for setting it
// without canonicalising it on every request.
var requestIDKey = http.CanonicalHeaderKey(requestid.Header)

// RequestID returns the request id of c ("" outside Observe).
func RequestID(c echo.Context) string { return requestid.From(c.Request().Context()) }

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
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			id := req.Header.Get(requestid.Header)
			if !requestid.Valid(id) {
				id = requestid.New()
			}
			c.Response().Header()[requestIDKey] = []string{id}
			c.SetRequest(req.WithContext(requestid.With(req.Context(), id)))
			m.inflight.Inc()
			if err := call(log, next, c, id); err != nil {
				c.Error(err) // writes the response through the HTTPErrorHandler
			}
			m.inflight.Dec()

			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			status := c.Response().Status
			elapsed := time.Since(start)
			m.observe(route, req.Method, status, elapsed)
			lvl := zap.InfoLevel
			if status >= http.StatusInternalServerError {
				lvl = zap.ErrorLevel
			}
			if ce := log.Check(lvl, "request"); ce != nil {
				ce.Write(zap.Inline(&accessEntry{
					id: id, method: req.Method, route: route, uri: clipURI(req.RequestURI), status: status, latency: elapsed,
					bytesIn: req.ContentLength, bytesOut: c.Response().Size, remote: c.RealIP(),
				}))
			}
			return nil
		}
	}
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
	status                         int
	latency                        time.Duration
	bytesIn, bytesOut              int64
}

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
	return nil
}
