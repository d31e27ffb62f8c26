package api

import (
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
)

// EnableAuth makes the routes that need a scope (routes.go) ask a for it:
// a request without a valid key gets 401, a key without the scope 403, a
// key over its rate limit 429. Without it, every route is open. Call it
// before serving.
func (s *Server) EnableAuth(a *auth.Authenticator) { s.auth = a }

// MetricsElsewhere says /metrics is also served on a listener of its own
// (MODEL_METRICS_ADDR), for scrapers: on the API's listener it then needs
// the read scope, like the other documents about the model.
func (s *Server) MetricsElsewhere() { s.metricsScoped = true }

// require is the middleware of a route that needs scope.
func (s *Server) require(scope auth.Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.auth == nil {
				return next(c)
			}
			d := s.auth.Check(c.Request().Header, s.clientAddr(c), scope)
			if d.Key != "" {
				service.SetAPIKey(c, d.Key)
			}
			switch d.Outcome {
			case auth.OK:
				return next(c)
			case auth.Unauthorized:
				p := newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", d.Reason)
				p.header = http.Header{"Www-Authenticate": {`Bearer realm="model-api"`}}
				return p
			case auth.Forbidden:
				return newProblem(http.StatusForbidden, "forbidden", "Forbidden", d.Reason)
			default:
				p := newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests", d.Reason)
				secs := max(1, int(math.Ceil(d.RetryAfter.Seconds())))
				p.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
				return p
			}
		}
	}
}

// clientAddr is the client's IP address, for the limit on failed
// attempts: the peer's, or what a trusted proxy says
// (MODEL_TRUSTED_PROXIES), never what any client claims.
func (s *Server) clientAddr(c echo.Context) string {
	if s.echo.IPExtractor != nil {
		return c.RealIP()
	}
	addr := c.Request().RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// requireMetrics is /metrics's middleware: open, unless the metrics have a
// listener of their own.
func (s *Server) requireMetrics(next echo.HandlerFunc) echo.HandlerFunc {
	scoped := s.require(auth.Read)(next)
	return func(c echo.Context) error {
		if s.metricsScoped {
			return scoped(c)
		}
		return next(c)
	}
}

// corsMaxAge is how long a browser may cache a preflight answer.
const corsMaxAge = 10 * time.Minute

// EnableCORS answers browsers at the allowed origins (exact
// scheme://host[:port] strings): their preflight requests get the CORS
// headers, so a browser app there may call the API with a key, and a
// preflight from any other origin is refused with 403. Without it, no
// response carries CORS headers. Call it before serving.
func (s *Server) EnableCORS(origins []string) {
	allowed := func(origin string) bool { return slices.Contains(origins, origin) }
	cors := middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) { return allowed(origin), nil },
		AllowMethods:    []string{http.MethodGet, http.MethodPost},
		AllowHeaders:    []string{"Authorization", "X-API-Key", echo.HeaderContentType, "X-Request-ID"},
		ExposeHeaders:   []string{"X-Request-ID", "X-Model-Version", "Retry-After", "WWW-Authenticate"},
		MaxAge:          int(corsMaxAge / time.Second),
	})
	s.echo.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		withCORS := cors(next)
		return func(c echo.Context) error {
			req := c.Request()
			if origin := req.Header.Get(echo.HeaderOrigin); req.Method == http.MethodOptions && origin != "" &&
				req.Header.Get(echo.HeaderAccessControlRequestMethod) != "" && !allowed(origin) {
				return newProblem(http.StatusForbidden, "cors-origin", "Origin not allowed",
					"the origin "+strconv.Quote(origin)+" is not in MODEL_CORS_ORIGINS")
			}
			return withCORS(c)
		}
	})
}
