package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// shadowOff is why GET /monitoring/shadow has nothing to compare when
// shadow scoring is not configured.
const shadowOff = "no shadow configured: set MODEL_SHADOW_ALIAS to an alias in the model store (e.g. challenger)"

// GET /monitoring/shadow: how the served model and the shadow's challenger
// disagree on the live records sampled so far.
func (s *Server) monitoringShadow(c echo.Context) error {
	sv := s.served.Load()
	if sv == nil {
		return errNotReady
	}
	if s.shadow == nil {
		return c.JSON(http.StatusOK, modelapi.Shadow{
			Status: modelapi.ShadowOff, Reason: shadowOff, Champion: sv.artifact.Version,
			Quantiles: []modelapi.ShadowQuantile{}, Buckets: []modelapi.ShadowBucket{},
		})
	}
	return c.JSON(http.StatusOK, s.shadow.Report(sv.artifact.Version))
}
