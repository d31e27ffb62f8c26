package api

import (
	"bytes"
	"math"
	"strconv"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// maxListedWarnings caps the extrapolation warnings listed in one response.
const maxListedWarnings = 100

// encodePrediction writes the PredictResponse JSON for inputs and their
// scores into out; array says whether the request was an array (which
// decides the warnings' JSON pointers).
func (s *Server) encodePrediction(out *bytes.Buffer, sv *served, inputs []massmodel.Input, sc *scores, array bool, opts predictOptions) {
	m := sv.model
	b := out.AvailableBuffer()
	sc.format()
	b = append(b, `{"predict":`...)
	b = sc.fitText.appendArray(b, 0, len(sc.fit))
	b = append(b, sv.modelFields...)
	if opts.interval {
		b = append(b, `,"interval":{"level":0.95,"lower":`...)
		b = sc.lowerText.appendArray(b, 0, len(sc.lower))
		b = append(b, `,"upper":`...)
		b = sc.upperText.appendArray(b, 0, len(sc.upper))
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
	if sc.extrapolated > 0 {
		b = append(b, `,"extrapolated_rows":`...)
		b = appendExtrapolatedRows(b, sc)
		b = append(b, `,"warnings":`...)
		ptr := pointerOfObject
		if array {
			ptr = pointerOfArray
		}
		var truncated bool
		b, truncated = appendWarnings(b, m, inputs, sc, ptr)
		if truncated {
			b = append(b, `,"warnings_truncated":true`...)
		}
	}
	b = append(b, "}\n"...)
	out.Write(b)
}

// appendExtrapolatedRows appends the indexes of every row sc flags as a
// JSON array.
func appendExtrapolatedRows(b []byte, sc *scores) []byte {
	b = append(b, '[')
	first := true
	for i, e := range sc.extrapolation {
		if e == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return append(b, ']')
}

// appendWarnings appends a JSON array of warnings for the first
// maxListedWarnings rows sc flags, and says whether it left some out.
// pointer appends the JSON pointer of a row's bill length in the request.
func appendWarnings(b []byte, m *massmodel.Model, inputs []massmodel.Input, sc *scores, pointer func(b []byte, row int) []byte) ([]byte, bool) {
	b = append(b, '[')
	listed := 0
	for i, in := range inputs {
		e := sc.extrapolation[i]
		if e == 0 {
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
		b = append(b, `,"pointer":"`...)
		b = pointer(b, i)
		b = append(b, `","reasons":[`...)
		first := true
		for _, r := range reasonBits {
			if e&r == 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendQuote(b, r.String())
		}
		// Only flagged rows get here: their leverage is recomputed rather
		// than kept for every row. The sentence needs no escaping
		// (AppendExtrapolationMessage).
		b = append(b, `],"message":"`...)
		b = m.AppendExtrapolationMessage(b, in, e, m.Leverage(in))
		b = append(b, `"}`...)
	}
	return append(b, ']'), sc.extrapolated > listed
}

// The pointers of a row's bill length in /predict's two request shapes:
// one object, or an array of them.
func pointerOfObject(b []byte, _ int) []byte { return append(b, "/"+fBill...) }

func pointerOfArray(b []byte, row int) []byte {
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(row), 10)
	return append(b, "/"+fBill...)
}

// numbers is a column of numbers as JSON text, formatted once for both the
// answer and the log's record: "x0,x1,…", and where each number ends.
type numbers struct {
	text []byte
	ends []int
}

func (n *numbers) reset() { n.text, n.ends = n.text[:0], n.ends[:0] }

func (n *numbers) format(xs []float64) {
	n.reset()
	for _, x := range xs {
		n.appendFloat(x)
	}
}

func (n *numbers) appendFloat(x float64) {
	if len(n.ends) > 0 {
		n.text = append(n.text, ',')
	}
	n.text = appendFloat(n.text, x)
	n.ends = append(n.ends, len(n.text))
}

// appendText appends a number already written as JSON.
func (n *numbers) appendText(text []byte) {
	if len(n.ends) > 0 {
		n.text = append(n.text, ',')
	}
	n.text = append(n.text, text...)
	n.ends = append(n.ends, len(n.text))
}

// span is the text of numbers from..to-1, commas included.
func (n *numbers) span(from, to int) []byte {
	if from >= to {
		return nil
	}
	start := 0
	if from > 0 {
		start = n.ends[from-1] + 1
	}
	return n.text[start:n.ends[to-1]]
}

// appendArray appends numbers from..to-1 as a JSON array.
func (n *numbers) appendArray(b []byte, from, to int) []byte {
	b = append(b, '[')
	b = append(b, n.span(from, to)...)
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
