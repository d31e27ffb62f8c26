package api

import (
	"bytes"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
)

// scores are one batch's predictions, in slices reused across requests.
type scores struct {
	fit, lower, upper []float64 // lower and upper only with intervals
	// Why each input is an extrapolation (mostly none), how many inputs
	// are one for any reason, and how many for each.
	extrapolation []massmodel.Extrapolation
	extrapolated  int
	byReason      [len(reasonBits)]int

	// When they were scored, if anything asked (the drift window, the
	// prediction log, the "prediction returned" line).
	at time.Time

	// The predictions as JSON text, once format has run.
	formatted                     bool
	fitText, lowerText, upperText numbers
}

// format turns the predictions into JSON text, once.
func (sc *scores) format() {
	if sc.formatted {
		return
	}
	sc.fitText.format(sc.fit)
	sc.lowerText.format(sc.lower)
	sc.upperText.format(sc.upper)
	sc.formatted = true
}

// score predicts every input (with its 95% interval when asked), checks
// each for extrapolation (by the leverage the interval computes anyway),
// records the prediction metrics for endpoint, and hands the records to
// the prediction log and the shadow when they are on. Both /predict and
// the Open Inference Protocol score here.
func (s *Server) score(id, endpoint string, sv *served, inputs []massmodel.Input, intervals bool, sc *scores) {
	m := sv.model
	joint := m.Joint() // else only the pooled range counts, and no leverage is needed
	sc.fit, sc.lower, sc.upper, sc.formatted = sc.fit[:0], sc.lower[:0], sc.upper[:0], false
	sc.extrapolation, sc.extrapolated, sc.byReason = sc.extrapolation[:0], 0, [len(reasonBits)]int{}
	for _, in := range inputs {
		var y, h float64
		if intervals {
			var lo, hi float64
			y, lo, hi, h = m.IntervalLeverage(in)
			sc.lower, sc.upper = append(sc.lower, lo), append(sc.upper, hi)
		} else {
			y = m.Predict(in)
			if joint {
				h = m.Leverage(in)
			}
		}
		sc.fit = append(sc.fit, y)
		e := m.Extrapolation(in, h)
		sc.extrapolation = append(sc.extrapolation, e)
		if e != 0 {
			sc.extrapolated++
			for i, r := range reasonBits {
				if e&r != 0 {
					sc.byReason[i]++
				}
			}
		}
	}
	s.metrics.predicted.observe(sc.fit)
	s.metrics.byEndpoint[endpoint].Add(float64(len(inputs)))
	sc.at = time.Time{}
	if sv.drift != nil || s.predlog != nil || s.returned != nil {
		sc.at = time.Now()
	}
	if sv.drift != nil {
		sv.drift.Add(inputs, sc.fit, sc.extrapolation, sc.at)
	}
	if s.predlog != nil {
		// Copies what it keeps: the caller reuses these slices.
		s.predlog.Log(sc.at, id, endpoint, sv.artifact.Version, inputs, sc.fit, sc.lower, sc.upper)
	}
	if s.shadow != nil {
		s.shadow.Offer(sv.artifact.Version, inputs, sc.fit)
	}
	if sc.extrapolated > 0 {
		for i, n := range sc.byReason {
			if n > 0 {
				s.metrics.outOfRangeBy[i].Add(float64(n))
			}
		}
	}
}

// reasonBits are the extrapolation reasons in the order of scores.byReason
// and the metrics' children.
var reasonBits = [...]massmodel.Extrapolation{massmodel.OutsideTrainingRange, massmodel.OutsideSpeciesRange, massmodel.HighLeverage}

// logRequested writes the "prediction requested" event.
func (s *Server) logRequested(pl *predictionLog, id, endpoint string, rows int) {
	if s.requested != nil {
		s.requested.At(time.Now()).Str(keyRequestID, id).Str(keyEndpoint, endpoint).Int(keyRows, int64(rows)).Write()
	} else if ce := s.log.Check(zap.InfoLevel, "prediction requested"); ce != nil {
		pl.requested = requestedEvent{id: id, endpoint: endpoint, rows: rows}
		ce.Write(zap.Inline(&pl.requested))
	}
}

type requestedEvent struct {
	id, endpoint string
	rows         int
}

func (e *requestedEvent) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("request_id", e.id)
	enc.AddString("endpoint", e.endpoint)
	enc.AddInt("rows", e.rows)
	return nil
}

// recordRowsPerLine bounds the records in one "prediction returned" line,
// so a line stays under the 16 KiB at which Docker's log drivers split it.
const recordRowsPerLine = 100

// logReturned writes the "prediction returned" event: the record of the
// predictions, every input and output in columns (as the Open Inference
// Protocol's tensors), so the logs alone say what was asked and answered.
// A batch takes one line per recordRowsPerLine records; first_row says
// where each line starts. pl holds the request's bill lengths as sent (or
// none, to format them from inputs) and is reused across requests.
func (s *Server) logReturned(pl *predictionLog, id, endpoint, version string, inputs []massmodel.Input, sc *scores) {
	if !s.log.Core().Enabled(zap.InfoLevel) {
		return
	}
	sc.format()
	if len(pl.bills.ends) != len(inputs) {
		pl.bills.reset()
		for _, in := range inputs {
			pl.bills.appendFloat(in.BillLengthMM)
		}
	}
	n := (len(inputs) + recordRowsPerLine - 1) / recordRowsPerLine
	if cap(pl.lines) < n {
		pl.lines = make([]predictionRecord, n)
	}
	pl.lines = pl.lines[:n]
	for i := range pl.lines {
		// A record per line, so that each line's fields stay as they were
		// logged (the tests' observer encodes them when read).
		r := &pl.lines[i]
		*r = predictionRecord{id: id, endpoint: endpoint, version: version, inputs: inputs, bills: &pl.bills, sc: sc,
			first: i * recordRowsPerLine, last: min((i+1)*recordRowsPerLine, len(inputs))}
		if s.returned != nil {
			r.write(s.returned.At(sc.at))
		} else if ce := s.log.Check(zap.InfoLevel, "prediction returned"); ce != nil {
			ce.Write(zap.Inline(r))
		}
	}
}

// predictionLog is what the prediction events need beyond the scores, kept with a
// request's decoder so that logging a prediction allocates (nearly)
// nothing.
type predictionLog struct {
	requested requestedEvent
	bills     numbers // the inputs' bill lengths as sent
	lines     []predictionRecord
}

// predictionRecord is one "prediction returned" line: rows first..last-1
// of a request.
type predictionRecord struct {
	id, endpoint, version string
	inputs                []massmodel.Input
	bills                 *numbers
	sc                    *scores
	first, last           int
}

// write writes the line through the fast path, with the fields of
// MarshalLogObject in its order.
func (r *predictionRecord) write(ln service.Line) {
	ln.Str(keyRequestID, r.id).Str(keyEndpoint, r.endpoint).Str(keyModelVersion, r.version).
		Int(keyRows, int64(len(r.inputs))).Int(keyFirstRow, int64(r.first)).Int(keyOutOfRange, int64(r.sc.extrapolated)).
		Raw(keyInputs, recordInputs{r}).Raw(keyOutputs, recordOutputs{r}).Write()
}

// The prediction events' keys, for their fast path.
var (
	keyRequestID, keyEndpoint, keyModelVersion, keyRows = service.NewKey("request_id"), service.NewKey("endpoint"), service.NewKey("model_version"), service.NewKey("rows")
	keyFirstRow, keyOutOfRange, keyInputs, keyOutputs   = service.NewKey("first_row"), service.NewKey("out_of_range"), service.NewKey("inputs"), service.NewKey("outputs")
)

func (r *predictionRecord) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("request_id", r.id)
	enc.AddString("endpoint", r.endpoint)
	enc.AddString("model_version", r.version)
	enc.AddInt("rows", len(r.inputs))
	enc.AddInt("first_row", r.first)
	enc.AddInt("out_of_range", r.sc.extrapolated)
	if err := enc.AddReflected("inputs", recordInputs{r}); err != nil {
		return err
	}
	return enc.AddReflected("outputs", recordOutputs{r})
}

// recordInputs and recordOutputs write the record's columns straight into
// the log line (service.RawJSON): a batch's record is most of the cost of
// logging it. Each holds only the record's pointer, so that passing one as
// an interface allocates nothing.
type (
	recordInputs  struct{ r *predictionRecord }
	recordOutputs struct{ r *predictionRecord }
)

// Species and sexes as JSON strings.
var (
	speciesJSON = [...]string{penguins.Adelie: `"Adelie"`, penguins.Chinstrap: `"Chinstrap"`, penguins.Gentoo: `"Gentoo"`}
	sexJSON     = [...]string{penguins.Female: `"female"`, penguins.Male: `"male"`}
)

func (c recordInputs) AppendRawJSON(b *buffer.Buffer) {
	r := c.r
	rows := r.inputs[r.first:r.last]
	b.AppendString(`{"` + fBill + `":[`)
	b.AppendBytes(r.bills.span(r.first, r.last))
	b.AppendString(`],"` + fSpecies + `":[`)
	for i, in := range rows {
		if i > 0 {
			b.AppendByte(',')
		}
		b.AppendString(speciesJSON[in.Species])
	}
	b.AppendString(`],"` + fSex + `":[`)
	for i, in := range rows {
		if i > 0 {
			b.AppendByte(',')
		}
		b.AppendString(sexJSON[in.Sex])
	}
	b.AppendString("]}")
}

func (c recordOutputs) AppendRawJSON(b *buffer.Buffer) {
	r := c.r
	b.AppendString(`{"` + outMass + `":[`)
	b.AppendBytes(r.sc.fitText.span(r.first, r.last))
	if len(r.sc.lower) > 0 {
		b.AppendString(`],"` + outLower + `":[`)
		b.AppendBytes(r.sc.lowerText.span(r.first, r.last))
		b.AppendString(`],"` + outUpper + `":[`)
		b.AppendBytes(r.sc.upperText.span(r.first, r.last))
	}
	b.AppendString("]}")
}

// MarshalJSON serves loggers other than the service's (the tests' observer).
func (c recordInputs) MarshalJSON() ([]byte, error)  { return rawJSON(c), nil }
func (c recordOutputs) MarshalJSON() ([]byte, error) { return rawJSON(c), nil }

func rawJSON(r service.RawJSON) []byte {
	b := bufferPool.Get()
	defer b.Free()
	r.AppendRawJSON(b)
	return bytes.Clone(b.Bytes())
}

var bufferPool = buffer.NewPool()
