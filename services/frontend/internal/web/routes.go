package web

import (
	"embed"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

//go:embed static
var staticFiles embed.FS

// routes registers every route; each answers HEAD as it answers GET.
func (a *App) routes(metrics http.Handler) {
	e := a.echo
	service.GET(e, "/", a.overview)
	service.GET(e, "/explore", a.explorePage)
	service.GET(e, "/model", a.model)
	service.GET(e, "/predict", a.predict)
	service.GET(e, "/monitoring", a.monitoring)
	service.GET(e, "/status", a.status)
	service.GET(e, "/charts/:name", a.dataChart)
	service.GET(e, "/charts/model/:version/:name", a.modelChart)
	service.GET(e, "/charts/predict.svg", a.predictChart)
	service.GET(e, "/static/:name", a.staticFile)
	service.GET(e, "/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, modelapi.Health{Status: "ok"}) })
	service.GET(e, "/readyz", func(c echo.Context) error {
		// Ready means this service can render its pages; it deliberately
		// does not depend on the model service being up.
		if !a.ready.Load() {
			return c.JSON(http.StatusServiceUnavailable, modelapi.Health{Status: "draining"})
		}
		return c.JSON(http.StatusOK, modelapi.Health{Status: "ready", Version: a.opts.Build.Version})
	})
	service.GET(e, "/version", func(c echo.Context) error { return c.JSON(http.StatusOK, a.opts.Build) })
	service.GET(e, "/metrics", echo.WrapHandler(metrics))
}

func (a *App) dataChart(c echo.Context) error {
	svg, ok := a.static[c.Param("name")]
	if !ok {
		return echo.ErrNotFound
	}
	return svgBlob(c, svg, true)
}

func (a *App) modelChart(c echo.Context) error {
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	mc, err := a.chartsFor(ctx, c.Param("version"))
	if errors.Is(err, errOtherVersion) {
		return echo.ErrNotFound // an old version's link: the page now shows the new one
	}
	if err != nil {
		status, _ := a.modelFailure(c, "diagnostics", err)
		return echo.NewHTTPError(status, "prediction service unavailable")
	}
	svg, ok := mc.files[c.Param("name")]
	if !ok {
		return echo.ErrNotFound
	}
	return svgBlob(c, svg, true)
}

// maxEchoed bounds what a page repeats of a request (a path, a form
// value): enough to recognise it, never enough to make the page large.
const maxEchoed = 200

// handleError is Echo's HTTPErrorHandler: pages get an HTML error page,
// never a stack trace; internal errors are logged.
func (a *App) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. The request id in the logs is " + service.RequestID(c) + "."
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "There is no page at " + service.Clip(c.Request().URL.Path, maxEchoed) + "."
		case http.StatusMethodNotAllowed:
			msg = "This page only answers GET requests."
		case http.StatusServiceUnavailable:
			msg = "The prediction service is unavailable right now; try again shortly."
		default:
			if m, ok := he.Message.(string); ok && status < 500 {
				msg = service.Clip(m, maxEchoed)
			}
		}
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		a.log.Error("internal error", zap.String("request_id", service.RequestID(c)), zap.String("route", c.Path()), zap.Error(err))
	}
	v := views.ErrorPage{Layout: a.layout(http.StatusText(status), "", views.ServedLinks), Status: status, Message: msg}
	if rerr := render(c, status, views.ErrorView(v)); rerr != nil {
		_ = c.String(status, msg)
	}
}
