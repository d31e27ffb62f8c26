package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"
)

// readJSON checks the content type and coding and reads the body into a
// pooled buffer, as every POST endpoint does, enforcing the configured size
// limit. The caller returns the buffer with putBuffer.
func (s *Server) readJSON(c echo.Context) (*bytes.Buffer, error) {
	req := c.Request()
	if err := checkJSONContentType(req.Header.Get(echo.HeaderContentType)); err != nil {
		return nil, err
	}
	if err := checkContentEncoding(req.Header.Values(echo.HeaderContentEncoding)); err != nil {
		c.Response().Header().Set(echo.HeaderAcceptEncoding, "identity")
		return nil, err
	}
	if req.ContentLength > s.limits.MaxBodyBytes {
		return nil, s.tooLarge()
	}
	buf := s.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	// A body of a stated length ends there (net/http's reader sees to it),
	// and that length is within the limit; only a chunked one needs
	// counting as it arrives.
	var body io.Reader = req.Body
	if req.ContentLength < 0 {
		body = http.MaxBytesReader(c.Response(), req.Body, s.limits.MaxBodyBytes)
	}
	_, err := buf.ReadFrom(body)
	if err != nil {
		s.putBuffer(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, s.tooLarge()
		}
		// What failed is logged, not sent: a read error names the
		// server's address and port.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p := newProblem(http.StatusRequestTimeout, "request-timeout", "Request timeout",
				"the request body did not arrive in full within the server's read timeout; send it again, faster or in smaller requests")
			p.cause = err
			return nil, p
		}
		p := newProblem(http.StatusBadRequest, "malformed-json", "Unreadable request body",
			"the request body ended early or could not be read")
		p.cause = err
		return nil, p
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
		"Content-Type must be application/json (UTF-8), got "+quote(ct))
}

// checkContentEncoding refuses any content coding: the service reads JSON
// as sent. (Decompressing would make the body limit a limit on compressed
// bytes, or need a second one; a batch is small enough to send as is.)
func checkContentEncoding(codings []string) error {
	for _, v := range codings {
		for _, coding := range strings.Split(v, ",") {
			if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
				return newProblem(http.StatusUnsupportedMediaType, "unsupported-encoding", "Unsupported content encoding",
					"Content-Encoding "+quote(coding)+" is not supported; send the body uncompressed (no Content-Encoding, or identity)")
			}
		}
	}
	return nil
}

// maxPooledBuffer keeps one huge request from pinning its memory: a
// buffer that grew past it is dropped, not pooled. A 10,000-row batch
// (make perf's) and its answer fit.
const maxPooledBuffer = 1 << 20

func (s *Server) putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		s.released()
		return
	}
	b.Reset()
	s.buffers.Put(b)
}

// putDecoder pools d after it decoded a body of n bytes into rows records
// (ok: accepted), unless that grew it too large to keep (see keep).
func (s *Server) putDecoder(d *decoder, n, rows int, ok bool) {
	if !keep(n, rows, ok) {
		s.released()
		return
	}
	s.decoders.Put(d)
}
