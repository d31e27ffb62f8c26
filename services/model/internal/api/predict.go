package api

import (
	"bytes"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/service"
)

// maxListedWarnings caps the out-of-range warnings listed in one response.
const maxListedWarnings = 100

type predictOptions struct {
	interval      bool
	contributions bool
}

func parsePredictQuery(c echo.Context) (predictOptions, error) {
	var o predictOptions
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

// checkJSONContentType accepts application/json, any application/*+json,
// and a missing Content-Type; anything else is a 400.
func checkJSONContentType(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
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

// predict serves POST /predict: decode and validate every record, predict,
// and encode the response by hand (the hot path of batch scoring).
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
	s.logRequested(id, "predict", len(inputs))
	s.score("predict", sv.model, inputs, opts.interval, &d.scores)
	out := s.buffers.Get().(*bytes.Buffer)
	defer s.putBuffer(out)
	s.encodePrediction(out, sv, inputs, &d.scores, d.inArray, opts)
	version := sv.artifact.Version
	s.logReturned(id, "predict", version, &d.scores)

	c.Response().Header().Set("X-Model-Version", version)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, out.Bytes())
}

// encodePrediction writes the PredictResponse JSON for inputs and their
// scores into out; array says whether the request was an array (which
// decides the warnings' JSON pointers).
func (s *Server) encodePrediction(out *bytes.Buffer, sv *served, inputs []massmodel.Input, sc *scores, array bool, opts predictOptions) {
	m := sv.model
	b := out.AvailableBuffer()
	b = append(b, `{"predict":`...)
	b = appendFloats(b, sc.fit)
	b = append(b, `,"model":`...)
	b = strconv.AppendQuote(b, sv.artifact.Name)
	b = append(b, `,"version":`...)
	b = strconv.AppendQuote(b, sv.artifact.Version)
	if opts.interval {
		b = append(b, `,"interval":{"level":0.95,"lower":`...)
		b = appendFloats(b, sc.lower)
		b = append(b, `,"upper":`...)
		b = appendFloats(b, sc.upper)
		b = append(b, '}')
	}
	if opts.contributions {
		b = append(b, `,"contributions":[`...)
		for i, in := range inputs {
			if i > 0 {
				b = append(b, ',')
			}
			for j, v := range m.Contributions(in) {
				if j == 0 {
					b = append(b, '{')
				} else {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, massmodel.Terms[j])
				b = append(b, ':')
				b = appendFloat(b, v)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if sc.outOfRange > 0 {
		lo, hi := m.BillLengthRange()
		b = append(b, `,"warnings":[`...)
		listed := 0
		for i, in := range inputs {
			if m.InTrainingRange(in) {
				continue
			}
			if listed == maxListedWarnings {
				break
			}
			if listed > 0 {
				b = append(b, ',')
			}
			listed++
			b = append(b, `{"row":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"pointer":`...)
			ptr := "/" + fBill
			if array {
				ptr = "/" + strconv.Itoa(i) + ptr
			}
			b = strconv.AppendQuote(b, ptr)
			b = append(b, `,"message":`...)
			b = strconv.AppendQuote(b, "bill_length_mm "+strconv.FormatFloat(in.BillLengthMM, 'g', -1, 64)+
				" is outside the training range ["+strconv.FormatFloat(lo, 'g', -1, 64)+", "+strconv.FormatFloat(hi, 'g', -1, 64)+
				"]; the prediction is an extrapolation")
			b = append(b, '}')
		}
		b = append(b, ']')
		if sc.outOfRange > listed {
			b = append(b, `,"warnings_truncated":true`...)
		}
	}
	b = append(b, "}\n"...)
	out.Write(b)
}

// appendFloats appends xs as a JSON array.
func appendFloats(b []byte, xs []float64) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, x)
	}
	return append(b, ']')
}

// appendFloat formats like encoding/json: shortest round-trip form, with
// exponents only for very large or small magnitudes. Inputs are validated,
// so v is always finite.
func appendFloat(b []byte, v float64) []byte {
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
