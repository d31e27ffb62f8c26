package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
)

// problem is an error that becomes an RFC 9457 response (or, under /v2, an
// Open Inference Protocol {"error": ...} body).
type problem struct {
	status    int
	slug      string // the type is /docs#problem-<slug>
	title     string
	detail    string
	errs      []modelapi.FieldError
	truncated bool
	cause     error       // logged, never sent: what failed inside (a read error)
	header    http.Header // sent with the answer: WWW-Authenticate, Retry-After
}

func (p *problem) Error() string { return p.detail }

// HTTPStatus is the status the problem is answered with; the access log
// middleware reads it (service.Observe).
func (p *problem) HTTPStatus() int { return p.status }

func newProblem(status int, slug, title, detail string) *problem {
	return &problem{status: status, slug: slug, title: title, detail: detail}
}

func invalid(inv *invalidInput) *problem {
	return &problem{
		status: http.StatusUnprocessableEntity, slug: "invalid-input", title: "Invalid input",
		detail: inv.Error(), errs: inv.errs, truncated: inv.total > len(inv.errs),
	}
}

var errNotReady = newProblem(http.StatusServiceUnavailable, "not-ready", "Model not ready",
	"no verified model is loaded yet, or the service is shutting down; retry shortly")

// handleError is Echo's HTTPErrorHandler: the one place errors become
// responses. Internal error text is logged, never sent.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	var p *problem
	var he *echo.HTTPError
	switch {
	case errors.As(err, &p):
	case errors.As(err, &he):
		p = fromEchoError(he, req)
	default:
		s.log.Error("internal error", zap.String("request_id", service.RequestID(c)), zap.String("route", c.Path()), zap.String("error", clip(err.Error(), maxDetail)))
		p = newProblem(http.StatusInternalServerError, "internal", "Internal error", "the server failed to handle the request; the request id identifies it in the logs")
	}
	// The last guard of the bound on answers and log lines: every detail
	// is built from clipped values, and is clipped again here.
	detail := clip(p.detail, maxDetail)
	if p.status < 500 {
		fields := []zap.Field{
			zap.String("request_id", service.RequestID(c)), zap.Int("status", p.status),
			zap.String("route", c.Path()), zap.String("detail", detail),
		}
		if len(p.errs) > 0 {
			fields = append(fields, zap.Any("errors", p.errs))
		}
		if p.cause != nil {
			fields = append(fields, zap.String("error", clip(p.cause.Error(), maxDetail)))
		}
		if key := service.APIKey(c); key != "" {
			fields = append(fields, zap.String("api_key", key))
		}
		s.log.Warn("request rejected", fields...)
	}
	if p.status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
	}
	for k, v := range p.header {
		c.Response().Header()[k] = v
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(p.status)
		return
	}
	if strings.HasPrefix(req.URL.Path, "/v2") {
		msg := detail
		for i, fe := range p.errs {
			if i == 0 {
				msg += ":"
			} else {
				msg += ";"
			}
			msg += " " + fe.String()
		}
		_ = c.JSON(p.status, modelapi.OIPError{Error: msg})
		return
	}
	body := modelapi.Problem{
		Type: "/docs#problem-" + p.slug, Title: p.title, Status: p.status, Detail: detail,
		Instance: instance(req), RequestID: service.RequestID(c), Errors: p.errs, ErrorsTruncated: p.truncated,
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.status)
	_ = jsonEncode(c.Response(), body)
}

func fromEchoError(he *echo.HTTPError, req *http.Request) *problem {
	switch he.Code {
	case http.StatusNotFound:
		return newProblem(he.Code, "not-found", "Not found", fmt.Sprintf("no route %s %s; see /docs", clip(req.Method, maxEcho), quote(req.URL.Path)))
	case http.StatusMethodNotAllowed:
		return newProblem(he.Code, "method-not-allowed", "Method not allowed", fmt.Sprintf("%s is not allowed on %s; see /docs", clip(req.Method, maxEcho), quote(req.URL.Path)))
	case http.StatusRequestEntityTooLarge:
		return newProblem(he.Code, "body-too-large", "Request body too large", "the request body exceeds the configured limit")
	}
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok {
		msg = m
	}
	if he.Code >= 500 {
		return newProblem(he.Code, "internal", http.StatusText(he.Code), "the server failed to handle the request")
	}
	return newProblem(he.Code, "bad-request", http.StatusText(he.Code), msg)
}

// instance is the request's path for a problem's instance: at most
// maxInstance bytes of it, cut between percent-escapes, so that it stays
// a URI reference.
func instance(req *http.Request) string {
	p := req.URL.EscapedPath()
	if len(p) <= maxInstance {
		return p
	}
	n := maxInstance
	if i := strings.LastIndexByte(p[n-2:n], '%'); i >= 0 {
		n -= 2 - i
	}
	return p[:n]
}
