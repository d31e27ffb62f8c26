package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// routes registers every route. The OpenAPI document must list exactly
// these; TestOpenAPIMatchesRoutes holds the two together.
func (s *Server) routes(metrics http.Handler) {
	e := s.echo
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/docs") })
	e.POST("/predict", s.predict)
	e.GET("/ping", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"ping": "pong"}) })
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, modelapi.Health{Status: "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metadata", s.servedBlob(func(sv *served) []byte { return sv.metadata }, echo.MIMEApplicationJSON))
	e.GET("/diagnostics", s.servedBlob(func(sv *served) []byte { return sv.diagnostics }, echo.MIMEApplicationJSON))
	e.GET("/prototype", s.servedBlob(func(sv *served) []byte { return sv.prototype }, "application/schema+json"))
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openapi) })
	e.GET("/docs", func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, s.docs) })
	e.GET("/metrics", echo.WrapHandler(metrics))
	e.GET("/monitoring/drift", s.monitoringDrift)
	e.GET("/monitoring/performance", s.monitoringPerformance)
	e.GET("/monitoring/shadow", s.monitoringShadow)
	e.GET("/aliases", s.aliases)

	v2 := e.Group("/v2")
	v2.GET("", s.oipServer)
	v2.GET("/health/live", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]bool{"live": true}) })
	v2.GET("/health/ready", s.oipReady)
	v2.GET("/models/:name", s.oipModel)
	v2.GET("/models/:name/ready", s.oipModelReady)
	v2.POST("/models/:name/infer", s.oipInfer)
	v2.GET("/models/:name/versions/:version", s.oipModel)
	v2.GET("/models/:name/versions/:version/ready", s.oipModelReady)
	v2.POST("/models/:name/versions/:version/infer", s.oipInfer)
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
