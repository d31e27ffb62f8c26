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

// GET routes GET and HEAD requests for path to h. Echo routes HEAD only
// where asked to, and HTTP wants every GET resource to answer HEAD as it
// answers GET, without the body: net/http's server drops the body written
// to a HEAD request, so h need not tell the two apart.
func GET(r Router, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.Match(getAndHead, path, h, m...)
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
