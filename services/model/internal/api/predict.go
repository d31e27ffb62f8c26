package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/service"
)

type predictOptions struct {
	interval      bool
	contributions bool
}

func parsePredictQuery(c echo.Context) (predictOptions, error) {
	var o predictOptions
	if c.Request().URL.RawQuery == "" {
		return o, nil
	}
	for key, vals := range c.QueryParams() {
		v := vals[len(vals)-1]
		switch key {
		case "interval":
			switch v {
			case "prediction":
				o.interval = true
			case "none", "":
			default:
				return o, newProblem(http.StatusBadRequest, "bad-query", "Bad query parameter",
					`query parameter interval must be "prediction" or "none", got `+strconv.Quote(v))
			}
		case "contributions":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, newProblem(http.StatusBadRequest, "bad-query", "Bad query parameter",
					"query parameter contributions must be true or false, got "+strconv.Quote(v))
			}
			o.contributions = b
		default:
			return o, newProblem(http.StatusBadRequest, "bad-query", "Bad query parameter",
				"unknown query parameter "+strconv.Quote(key)+"; known: interval, contributions")
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
	defer s.decoders.Put(d)
	inputs, err := d.decode(body.Bytes(), s.limits.MaxRows, d.inputs[:0])
	d.inputs = inputs[:0]
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
