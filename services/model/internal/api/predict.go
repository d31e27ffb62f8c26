package api

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/service"
)

type predictOptions struct {
	interval      bool
	contributions bool
}

// parsePredictQuery reads /predict's query strictly: a malformed query
// (a bad escape, a ';' separator), an unknown parameter or one given twice
// is a 400, never dropped.
func parsePredictQuery(c echo.Context) (predictOptions, error) {
	var o predictOptions
	raw := c.Request().URL.RawQuery
	if raw == "" {
		return o, nil
	}
	bad := func(detail string) error {
		return newProblem(http.StatusBadRequest, "bad-query", "Bad query parameter", detail)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		// url's errors quote at most the bad escape; the query is clipped.
		return o, bad("malformed query string " + quote(raw) + ": " + clip(err.Error(), maxEcho) + "; separate parameters with '&' and percent-encode values")
	}
	for key, vals := range q {
		if len(vals) > 1 {
			return o, bad("query parameter " + quote(key) + " given " + strconv.Itoa(len(vals)) + " times; give it once")
		}
		v := vals[0]
		switch key {
		case "interval":
			switch v {
			case "prediction":
				o.interval = true
			case "none", "":
			default:
				return o, bad(`query parameter interval must be "prediction" or "none", got ` + quote(v))
			}
		case "contributions":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, bad("query parameter contributions must be true or false, got " + quote(v))
			}
			o.contributions = b
		default:
			return o, bad("unknown query parameter " + quote(key) + "; known: interval, contributions")
		}
	}
	return o, nil
}

// predict serves POST /predict. A request reads in one direction: read
// the body (read.go), decode and validate it (decode.go), score it
// (score.go), encode the answer (encode.go), log the record (score.go).
func (s *Server) predict(c echo.Context) error {
	sv := s.ready()
	if sv == nil {
		return errNotReady
	}
	opts, err := parsePredictQuery(c)
	if err != nil {
		return err
	}
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	defer s.putBuffer(body)

	d := s.decoders.Get().(*decoder)
	inputs, err := d.decode(body.Bytes(), s.limits.MaxRows, d.inputs[:0])
	d.inputs = inputs[:0]
	defer s.putDecoder(d, body.Len(), len(inputs), err == nil)
	switch e := err.(type) {
	case nil:
	case *syntaxError:
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", e.msg)
	case *invalidInput:
		return invalid(e)
	default:
		return err
	}

	id := service.RequestID(c)
	s.logRequested(&d.log, id, "predict", len(inputs))
	s.score(id, "predict", sv, inputs, opts.interval, &d.scores)
	out := s.buffers.Get().(*bytes.Buffer)
	defer s.putBuffer(out)
	s.encodePrediction(out, sv, inputs, &d.scores, d.inArray, opts)
	s.logReturned(&d.log, id, "predict", sv.artifact.Version, inputs, &d.scores)
	return sv.blob(c, out.Bytes())
}
