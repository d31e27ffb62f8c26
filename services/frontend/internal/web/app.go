// Package web is the frontend's HTTP layer: the pages, the charts they show,
// security headers, and the calls to the model API.
package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// ModelAPI is what the frontend needs of the model service.
type ModelAPI interface {
	Predict(ctx context.Context, records []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error)
	Metadata(ctx context.Context) (*modelapi.Metadata, error)
	Diagnostics(ctx context.Context) (*modelapi.Diagnostics, error)
	Ready(ctx context.Context) (*modelapi.Health, error)
	Drift(ctx context.Context) (*modelapi.Drift, error)
	// Performance is the served version's metrics on ground truth when
	// version is "".
	Performance(ctx context.Context, version string) (*modelapi.Performance, error)
	// Aliases is where the model store's aliases point, and their history.
	Aliases(ctx context.Context) (*modelapi.Aliases, error)
	// Shadow is how the served model and the shadow's challenger disagree.
	Shadow(ctx context.Context) (*modelapi.Shadow, error)
}

// Options configure an App.
type Options struct {
	ModelURL string // shown on the pages, with any credentials redacted
	Build    buildinfo.Info
	// ModelBudget bounds the model API calls of one page, retries
	// included (default 5s). The Overview, a data page at heart, waits at
	// most a second.
	ModelBudget time.Duration
	// AlertRulesURL is where people can read the alert rules (the rules
	// file in the deployment's repository, or Prometheus's /alerts page);
	// empty, the Monitoring page names the file without a link.
	AlertRulesURL string
	// TrustedProxies are the proxies whose X-Forwarded-For and X-Real-IP
	// name the client in the access log; from anyone else the peer is
	// logged.
	TrustedProxies service.IPRanges
}

// overviewBudget is how long the Overview waits for the model API.
const overviewBudget = time.Second

// App is the frontend. Data-only content is computed once at start-up;
// model diagnostics, which come from the model service, are drawn once per
// model version.
type App struct {
	log   *zap.Logger
	api   ModelAPI
	opts  Options
	echo  *echo.Echo
	reg   *prometheus.Registry
	calls *CallLog

	explore views.Explore     // without Layout
	static  map[string][]byte // EDA chart SVGs by file name
	assets  assets            // the files under static/

	mu          sync.Mutex
	modelCharts map[string]*modelCharts // by model version
	curves      map[curveKey]*curve
	charts      *chartCache // drawn prediction charts
	served      servedVersion
	// One model call for concurrent requests that need the same answer.
	curveCalls, diagnosticsCalls singleflight.Group

	ready atomic.Bool
}

// New builds the app: it parses the embedded data and draws the EDA charts.
// calls may be nil.
func New(log *zap.Logger, api ModelAPI, calls *CallLog, opts Options) (*App, error) {
	rows, err := penguins.Embedded{}.Load(context.Background())
	if err != nil {
		return nil, err
	}
	if calls == nil {
		calls = NewCallLog(50)
	}
	opts.ModelURL = service.RedactURL(opts.ModelURL)
	if opts.ModelBudget <= 0 {
		opts.ModelBudget = 5 * time.Second
	}
	a := &App{
		log: log, api: api, opts: opts, calls: calls,
		reg:         prometheus.NewRegistry(),
		modelCharts: map[string]*modelCharts{},
		curves:      map[curveKey]*curve{},
		charts:      newChartCache(512),
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	calls.register(a.reg)
	if a.assets, err = loadAssets(staticFiles, "static"); err != nil {
		return nil, err
	}
	if a.explore, a.static, err = buildExplore(rows); err != nil {
		return nil, fmt.Errorf("explore page: %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.IPExtractor = service.IPExtractor(opts.TrustedProxies)
	e.Use(service.Observe(log, service.NewHTTPMetrics(a.reg)), securityHeaders)
	a.echo = e
	a.routes(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	a.ready.Store(true)
	return a, nil
}

// Handler returns the HTTP handler.
func (a *App) Handler() http.Handler { return a.echo }

// SetDraining makes /readyz fail during shutdown.
func (a *App) SetDraining() { a.ready.Store(false) }

func (a *App) layout(title, active string, links views.Links) views.Layout {
	l := views.Layout{Title: title, Active: active, Links: links, Version: a.opts.Build.Version,
		Stylesheet: links.Static + "style.css", Script: links.Static + "app.js"}
	if links.Live {
		l.Stylesheet, l.Script = a.assets.url("style.css"), a.assets.url("app.js")
	}
	return l
}

// render writes a templ component into a buffer first, so a render error is
// still a clean 500 rather than half a page.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("rendering page: %w", err)
	}
	// Pages change with the model service and the data behind them:
	// browsers must ask again each time (a 200 or a 304 is theirs to get).
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(status, buf.Bytes())
}

// modelCtx bounds the model API calls one page makes.
func (a *App) modelCtx(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), a.opts.ModelBudget)
}
