package api

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

// logRequested writes the "prediction requested" event.
func (s *Server) logRequested(id, endpoint string, rows int) {
	if ce := s.log.Check(zap.InfoLevel, "prediction requested"); ce != nil {
		ce.Write(zap.String("request_id", id), zap.String("endpoint", endpoint), zap.Int("rows", rows))
	}
}

// recordRowsPerLine bounds the records in one "prediction returned" line,
// so a line stays under the 16 KiB at which Docker's log drivers split it.
const recordRowsPerLine = 100

// logReturned writes the "prediction returned" event: the record of the
// predictions, with every input and output in columns (as the Open
// Inference Protocol's tensors), so the logs alone say what was asked and
// answered. A batch takes one line per recordRowsPerLine records; first_row
// says where each line starts.
func (s *Server) logReturned(id, endpoint, version string, inputs []massmodel.Input, sc *scores) {
	for first := 0; first < len(inputs); first += recordRowsPerLine {
		ce := s.log.Check(zap.InfoLevel, "prediction returned")
		if ce == nil {
			return
		}
		// One record per line: a core may keep fields and encode them
		// later (the tests' observer does).
		ce.Write(zap.Inline(&predictionRecord{id: id, endpoint: endpoint, version: version, inputs: inputs, sc: sc,
			first: first, last: min(first+recordRowsPerLine, len(inputs))}))
	}
}

// predictionRecord is one "prediction returned" line: rows first..last-1
// of a request.
type predictionRecord struct {
	id, endpoint, version string
	inputs                []massmodel.Input
	sc                    *scores
	first, last           int
}

func (r *predictionRecord) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("request_id", r.id)
	enc.AddString("endpoint", r.endpoint)
	enc.AddString("model_version", r.version)
	enc.AddInt("rows", len(r.inputs))
	enc.AddInt("first_row", r.first)
	enc.AddInt("out_of_range", r.sc.outOfRange)
	if err := enc.AddArray(fBill, billColumn{r}); err != nil {
		return err
	}
	if err := enc.AddArray(fSpecies, speciesColumn{r}); err != nil {
		return err
	}
	if err := enc.AddArray(fSex, sexColumn{r}); err != nil {
		return err
	}
	if err := enc.AddArray(outMass, floatColumn(r.sc.fit[r.first:r.last])); err != nil {
		return err
	}
	if len(r.sc.lower) > 0 {
		if err := enc.AddArray(outLower, floatColumn(r.sc.lower[r.first:r.last])); err != nil {
			return err
		}
		return enc.AddArray(outUpper, floatColumn(r.sc.upper[r.first:r.last]))
	}
	return nil
}

// Columns of a record. The input columns hold only the record's pointer,
// so that passing one as an interface allocates nothing.
type (
	billColumn    struct{ r *predictionRecord }
	speciesColumn struct{ r *predictionRecord }
	sexColumn     struct{ r *predictionRecord }
	floatColumn   []float64
)

func (c billColumn) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, in := range c.r.inputs[c.r.first:c.r.last] {
		enc.AppendFloat64(in.BillLengthMM)
	}
	return nil
}

func (c speciesColumn) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, in := range c.r.inputs[c.r.first:c.r.last] {
		enc.AppendString(in.Species.String())
	}
	return nil
}

func (c sexColumn) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, in := range c.r.inputs[c.r.first:c.r.last] {
		enc.AppendString(in.Sex.String())
	}
	return nil
}

func (c floatColumn) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, x := range c {
		enc.AppendFloat64(x)
	}
	return nil
}
