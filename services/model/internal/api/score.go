package api

import (
	"bytes"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// scores are one batch's predictions, in slices reused across requests.
type scores struct {
	fit, lower, upper []float64 // lower and upper only with intervals
	outOfRange        int       // inputs outside the training range
}

// score predicts every input (with its 95% interval when asked), counts the
// inputs outside the training range, and records the prediction metrics
// for endpoint. Both /predict and the Open Inference Protocol score here.
func (s *Server) score(endpoint string, m *massmodel.Model, inputs []massmodel.Input, intervals bool, sc *scores) {
	sc.fit, sc.lower, sc.upper, sc.outOfRange = sc.fit[:0], sc.lower[:0], sc.upper[:0], 0
	for _, in := range inputs {
		var y float64
		if intervals {
			var lo, hi float64
			y, lo, hi = m.Interval(in)
			sc.lower, sc.upper = append(sc.lower, lo), append(sc.upper, hi)
		} else {
			y = m.Predict(in)
		}
		sc.fit = append(sc.fit, y)
		s.metrics.predicted.Observe(y)
		if !m.InTrainingRange(in) {
			sc.outOfRange++
		}
	}
	s.metrics.predictions.WithLabelValues(endpoint).Add(float64(len(inputs)))
	if sc.outOfRange > 0 {
		s.metrics.outOfRange.WithLabelValues(fBill).Add(float64(sc.outOfRange))
	}
}

// logRequested and logReturned write the book's two prediction events.
func (s *Server) logRequested(id, endpoint string, rows int) {
	s.log.Info("prediction requested", zap.String("request_id", id), zap.String("endpoint", endpoint), zap.Int("rows", rows))
}

func (s *Server) logReturned(id, endpoint, version string, sc *scores) {
	fields := []zap.Field{zap.String("request_id", id), zap.String("endpoint", endpoint), zap.Int("rows", len(sc.fit)),
		zap.String("model_version", version), zap.Int("out_of_range", sc.outOfRange)}
	if len(sc.fit) == 1 {
		fields = append(fields, zap.Float64("body_mass_g", sc.fit[0]))
	}
	s.log.Info("prediction returned", fields...)
}

// readJSON checks the content type and reads the body, as every POST
// endpoint does. The caller returns the buffer with putBuffer.
func (s *Server) readJSON(c echo.Context) (*bytes.Buffer, error) {
	if err := checkJSONContentType(c); err != nil {
		return nil, err
	}
	return s.readBody(c)
}
