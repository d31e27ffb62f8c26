package api

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// readJSON checks the content type and reads the body into a pooled
// buffer, as every POST endpoint does, enforcing the configured size
// limit. The caller returns the buffer with putBuffer.
func (s *Server) readJSON(c echo.Context) (*bytes.Buffer, error) {
	if err := checkJSONContentType(c.Request().Header.Get(echo.HeaderContentType)); err != nil {
		return nil, err
	}
	req := c.Request()
	if req.ContentLength > s.limits.MaxBodyBytes {
		return nil, s.tooLarge()
	}
	buf := s.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Response(), req.Body, s.limits.MaxBodyBytes))
	if err != nil {
		s.putBuffer(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, s.tooLarge()
		}
		return nil, newProblem(http.StatusBadRequest, "malformed-json", "Unreadable request body", "reading the request body failed: "+err.Error())
	}
	return buf, nil
}

func (s *Server) tooLarge() *problem {
	return newProblem(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
		fmt.Sprintf("the request body exceeds the limit of %d bytes (MODEL_MAX_BODY_BYTES); send fewer records per request", s.limits.MaxBodyBytes))
}

// checkJSONContentType accepts application/json, any application/*+json,
// and a missing Content-Type; anything else is a 400.
func checkJSONContentType(ct string) error {
	if ct == "" || ct == echo.MIMEApplicationJSON {
		return nil // what nearly every client sends, without parsing
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return newProblem(http.StatusBadRequest, "unsupported-media-type", "Unsupported content type",
		"Content-Type must be application/json (UTF-8), got "+strconv.Quote(ct))
}

// maxPooledBuffer keeps one huge request from pinning its memory forever.
const maxPooledBuffer = 4 << 20

func (s *Server) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		s.buffers.Put(b)
	}
}
