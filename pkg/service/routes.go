package service

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Router is where routes are added: an *echo.Echo or an *echo.Group.
type Router interface {
	Match(methods []string, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) []*echo.Route
}

var getAndHead = []string{http.MethodGet, http.MethodHead}

// GET routes GET and HEAD requests for path to h, wrapped in the
// middleware m. Echo routes HEAD only where asked to, and HTTP wants every
// GET resource to answer HEAD as it answers GET, without the body:
// net/http's server drops the body written to a HEAD request, so h need
// not tell the two apart.
func GET(r Router, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.Match(getAndHead, path, chain(h, m))
}

var post = []string{http.MethodPost}

// POST routes POST requests for path to h, wrapped in the middleware m.
func POST(r Router, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.Match(post, path, chain(h, m))
}

// chain wraps h in m, the first outermost, once: Echo wraps a route's own
// middleware around its handler again on every request, which costs a
// closure or two a request.
func chain(h echo.HandlerFunc, m []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}

// GetWithoutHead lists the routes of e that answer GET but not HEAD, for
// tests: every route should be added with GET.
func GetWithoutHead(e *echo.Echo) []string {
	head := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == http.MethodHead {
			head[r.Path] = true
		}
	}
	var out []string
	for _, r := range e.Routes() {
		if r.Method == http.MethodGet && !head[r.Path] {
			out = append(out, r.Path)
		}
	}
	return out
}
