package service

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

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
