// Package api is the model service's HTTP API: the vetiver-compatible
// /predict, the Open Inference Protocol v2, health, metadata, docs and
// metrics.
package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
	"github.com/palmerops/penguins/services/model/internal/drift"
	"github.com/palmerops/penguins/services/model/internal/predlog"
)

// Limits bound what one request may ask for.
type Limits struct {
	MaxBodyBytes int64 // larger bodies get 413
	MaxRows      int   // more records get 422
}

// Server serves one model version at a time. It starts not ready; SetModel
// makes it ready once a verified model is in hand.
type Server struct {
	echo    *echo.Echo
	log     *zap.Logger
	limits  Limits
	build   buildinfo.Info
	reg     *prometheus.Registry
	metrics *modelMetrics
	drift   DriftSettings
	predlog *predlog.Writer // nil when the prediction log is off
	shadow  Shadow          // nil when shadow scoring is off

	// The prediction events through log's fast path; nil: through zap.
	requested, returned *service.Event

	auth          *auth.Authenticator // nil when auth is off: every route is open
	metricsScoped bool                // /metrics has its own listener; here it needs the read scope

	served   atomic.Pointer[served]
	draining atomic.Bool

	decoders sync.Pool // *decoder
	buffers  sync.Pool // *bytes.Buffer, request bodies and responses
	release  memoryRelease

	openapi     []byte
	docs        []byte
	docsHeaders map[string]string
}

// served is everything derived from the loaded model, computed once.
type served struct {
	artifact    *massmodel.Artifact
	model       *massmodel.Model
	metadata    []byte // GET /metadata
	prototype   []byte // GET /prototype
	diagnostics []byte // GET /diagnostics
	oipModel    []byte // GET /v2/models/{name}

	versionHeader []string // X-Model-Version, shared by every answer
	modelFields   string   // `,"model":…,"version":…` of /predict's answers
	loadedAt      time.Time

	drift       *drift.Tracker // nil when not tracking; driftReason says why
	driftReason string

	store     *massmodel.Store               // where pinned metrics are read; nil when trained at start-up
	reference *modelapi.PerformanceReference // metrics on the training rows; nil when unavailable
}

// jsonContentType is the Content-Type of JSON answers, shared (net/http
// never modifies a header's value slice).
var jsonContentType = []string{echo.MIMEApplicationJSON}

// blob answers 200 with a scored JSON body, naming the version that scored
// it.
func (sv *served) blob(c echo.Context, body []byte) error {
	h := c.Response().Header()
	h["X-Model-Version"] = sv.versionHeader
	h[echo.HeaderContentType] = jsonContentType
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(body)
	return err
}

// New returns a Server with its routes registered. It is not ready until
// SetModel is called.
func New(log *zap.Logger, limits Limits, build buildinfo.Info) (*Server, error) {
	s := &Server{log: log, limits: limits, build: build, reg: prometheus.NewRegistry(), drift: DefaultDrift}
	if lines := service.LinesFor(log); lines != nil {
		s.requested, s.returned = lines.Event("prediction requested"), lines.Event("prediction returned")
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newModelMetrics(s.reg)
	s.reg.MustRegister(driftCollector{s}, performanceCollector{s})
	s.decoders.New = func() any { return newDecoder() }
	s.buffers.New = func() any { return new(bytes.Buffer) }

	var err error
	if s.openapi, err = openAPIDocument(build.Version); err != nil {
		return nil, err
	}
	if s.docs, err = renderDocs(s.openapi); err != nil {
		return nil, fmt.Errorf("rendering /docs: %w", err)
	}
	if s.docsHeaders, err = docsSecurityHeaders(s.docs); err != nil {
		return nil, fmt.Errorf("rendering /docs: %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = service.IPExtractor(nil) // the peer, until TrustProxies
	e.Use(service.Observe(log, service.NewHTTPMetrics(s.reg)))
	s.echo = e
	s.routes(s.MetricsHandler())
	return s, nil
}

// MetricsHandler serves the metrics in Prometheus's format: /metrics, and
// the listener of MODEL_METRICS_ADDR.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// EnablePredictionLog hands every scored record to w from now on, and
// exports w's counts as metrics. Call it before serving; w is closed by
// the caller once the server has drained.
func (s *Server) EnablePredictionLog(w *predlog.Writer) {
	s.predlog = w
	stat := func(f func(predlog.Stats) uint64) func() float64 {
		return func() float64 { return float64(f(w.Stats())) }
	}
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "model_prediction_log_records_total", Help: "Scored records written to the prediction log.",
		}, stat(func(st predlog.Stats) uint64 { return st.Written })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "model_prediction_log_dropped_total", Help: "Scored records not written to the prediction log: its buffer was full (the disk fell behind) or a write failed.",
		}, stat(func(st predlog.Stats) uint64 { return st.Dropped })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "model_prediction_log_errors_total", Help: "Prediction log file operations (create, write, sync, rename) that failed.",
		}, stat(func(st predlog.Stats) uint64 { return st.Errors })),
	)
}

// TrustProxies makes the access log's client address the one that a
// proxy in trusted forwards (X-Forwarded-For, X-Real-IP) rather than the
// connection's peer. Call it before serving.
func (s *Server) TrustProxies(trusted service.IPRanges) {
	s.echo.IPExtractor = service.IPExtractor(trusted)
}

// Shadow scores a sample of the served records with a second model, off
// the response path (services/model/internal/shadow).
type Shadow interface {
	// Offer hands over the records of one scored request: inputs[i]
	// scored fit[i] on the served version champion. It copies what it
	// keeps and never waits.
	Offer(champion string, inputs []massmodel.Input, fit []float64)
	// Report is GET /monitoring/shadow's body for the served version.
	Report(champion string) modelapi.Shadow
}

// EnableShadow hands every scored record to sh from now on, which samples
// them. Call it before serving.
func (s *Server) EnableShadow(sh Shadow) { s.shadow = sh }

// Registerer is where the service's other parts register the metrics that
// /metrics exports alongside the server's.
func (s *Server) Registerer() prometheus.Registerer { return s.reg }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router, for tests that list its routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Loaded is a verified model for SetModel, with what the API reports about
// where it came from.
type Loaded struct {
	Artifact *massmodel.Artifact
	Model    *massmodel.Model // the artifact's verified model
	From     string           // where the artifact came from (serving.loaded_from)
	Pinned   bool             // whether configuration chose the version
	// Store is the model store the artifact came from, where its metrics
	// are pinned; nil when the model was trained at start-up.
	Store *massmodel.Store
	// Data is the training data the service has, or nil. It is read only
	// for an artifact that predates stored observations, to recompute its
	// diagnostics when it is the data the artifact was trained on.
	Data penguins.Source
}

// SetModel starts serving a verified model. Everything the API says about
// it (metadata, prototype, diagnostics) is computed here, once.
func (s *Server) SetModel(ctx context.Context, l Loaded) error {
	a := l.Artifact
	sv := &served{artifact: a, model: l.Model, versionHeader: []string{a.Version},
		modelFields: `,"model":` + strconv.Quote(a.Name) + `,"version":` + strconv.Quote(a.Version), loadedAt: time.Now().UTC(), store: l.Store}
	var err error
	sv.metadata, err = json.Marshal(metadataOf(a, modelapi.Serving{
		LoadedFrom: l.From, LoadedAt: time.Now().UTC(), Pinned: l.Pinned,
		MaxRows: s.limits.MaxRows, MaxBodyBytes: s.limits.MaxBodyBytes, Service: s.build,
	}))
	if err != nil {
		return fmt.Errorf("encoding metadata: %w", err)
	}
	if sv.prototype, err = json.Marshal(prototype(a)); err != nil {
		return fmt.Errorf("encoding prototype: %w", err)
	}
	if sv.oipModel, err = json.Marshal(oipModelMetadata(a)); err != nil {
		return fmt.Errorf("encoding model metadata: %w", err)
	}
	d, derr := massmodel.Diagnose(ctx, a, l.Model, l.Data)
	diag := diagnosticsOf(a, d, derr)
	if derr == nil {
		sv.reference = referenceOf(d)
	}
	if sv.diagnostics, err = json.Marshal(diag); err != nil {
		return fmt.Errorf("encoding diagnostics: %w", err)
	}
	// A new model starts a new window: records scored by the old one say
	// nothing about the new one's reference.
	sv.drift, sv.driftReason = s.newDrift(l, d, derr)
	// The new version's series first, then the old one's removed: a scrape
	// never sees no model_info.
	s.metrics.info.WithLabelValues(a.Version, a.ContentSHA256).Set(1)
	if old := s.served.Load(); old != nil && old.artifact.Version != a.Version {
		s.metrics.info.DeleteLabelValues(old.artifact.Version, old.artifact.ContentSHA256)
	}
	s.served.Store(sv)
	s.log.Info("model loaded", zap.String("model", a.Name), zap.String("model_version", a.Version),
		zap.String("loaded_from", l.From), zap.Bool("pinned", l.Pinned),
		zap.String("data_sha256", a.Data.SHA256), zap.Int("training_rows", a.Data.TrainingRows),
		zap.String("diagnostics", cmp.Or(diag.Source, "unavailable")))
	if sv.drift == nil {
		s.log.Warn("drift tracking unavailable", zap.String("model_version", a.Version), zap.String("reason", sv.driftReason))
	}
	if !diag.Available {
		s.log.Warn("model diagnostics unavailable", zap.String("model_version", a.Version), zap.String("reason", diag.Reason))
	}
	return nil
}

// SetDraining makes readiness fail while the server drains on shutdown, so
// load balancers stop sending new work.
func (s *Server) SetDraining() { s.draining.Store(true) }

// ready returns the served model, or nil when not ready.
func (s *Server) ready() *served {
	if s.draining.Load() {
		return nil
	}
	return s.served.Load()
}

func jsonEncode(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
