package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
)

// routes registers every route, with the scope it needs when auth is on
// (EnableAuth); routes without one are open. The OpenAPI document must
// list exactly these routes, and declare the same security;
// TestOpenAPIMatchesRoutes and provokeAuth hold the two together. Every
// GET route answers HEAD too (service.GET), which the document says once.
func (s *Server) routes(metrics http.Handler) {
	e := s.echo
	predict, read := s.require(auth.Predict), s.require(auth.Read)
	service.GET(e, "/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/docs") })
	service.POST(e, "/predict", s.predict, predict)
	service.GET(e, "/ping", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"ping": "pong"}) })
	service.GET(e, "/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, modelapi.Health{Status: "ok"}) })
	service.GET(e, "/readyz", s.readyz)
	service.GET(e, "/metadata", s.servedBlob(func(sv *served) []byte { return sv.metadata }, echo.MIMEApplicationJSON), read)
	service.GET(e, "/diagnostics", s.servedBlob(func(sv *served) []byte { return sv.diagnostics }, echo.MIMEApplicationJSON), read)
	service.GET(e, "/prototype", s.servedBlob(func(sv *served) []byte { return sv.prototype }, "application/schema+json"), read)
	service.GET(e, "/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openapi) })
	service.GET(e, "/docs", s.docsPage)
	service.GET(e, "/metrics", echo.WrapHandler(metrics), s.requireMetrics)
	service.GET(e, "/monitoring/drift", s.monitoringDrift, read)
	service.GET(e, "/monitoring/performance", s.monitoringPerformance, read)
	service.GET(e, "/monitoring/shadow", s.monitoringShadow, read)
	service.GET(e, "/aliases", s.aliases, read)

	v2 := e.Group("/v2")
	service.GET(v2, "", s.oipServer, read)
	service.GET(v2, "/health/live", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]bool{"live": true}) })
	service.GET(v2, "/health/ready", s.oipReady)
	service.GET(v2, "/models/:name", s.oipModel, read)
	service.GET(v2, "/models/:name/ready", s.oipModelReady)
	service.POST(v2, "/models/:name/infer", s.oipInfer, predict)
	service.GET(v2, "/models/:name/versions/:version", s.oipModel, read)
	service.GET(v2, "/models/:name/versions/:version/ready", s.oipModelReady)
	service.POST(v2, "/models/:name/versions/:version/infer", s.oipInfer, predict)
}

func (s *Server) readyz(c echo.Context) error {
	switch sv := s.ready(); {
	case sv != nil:
		return c.JSON(http.StatusOK, modelapi.Health{Status: "ready", Version: sv.artifact.Version})
	case s.draining.Load():
		return c.JSON(http.StatusServiceUnavailable, modelapi.Health{Status: "draining", Reason: "shutting down"})
	default:
		return c.JSON(http.StatusServiceUnavailable, modelapi.Health{Status: "loading", Reason: "no verified model loaded yet"})
	}
}

// servedBlob serves a document precomputed from the loaded model.
func (s *Server) servedBlob(pick func(*served) []byte, contentType string) echo.HandlerFunc {
	return func(c echo.Context) error {
		sv := s.served.Load()
		if sv == nil {
			return errNotReady
		}
		return c.Blob(http.StatusOK, contentType, pick(sv))
	}
}

func (s *Server) docsPage(c echo.Context) error {
	h := c.Response().Header()
	for k, v := range s.docsHeaders {
		h.Set(k, v)
	}
	return c.HTMLBlob(http.StatusOK, s.docs)
}
