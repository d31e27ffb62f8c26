package massmodel

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/palmerops/penguins/pkg/penguins"
)

// Domain is where a model has seen data, for judging extrapolation jointly
// rather than one input at a time: the range of bill length within each
// species, and the largest leverage of a training row. An input inside the
// pooled bill-length range can still lie outside its species' range (a
// 55 mm Adelie), or combine its values as no training row does (a
// leverage above the largest); both are extrapolation.
type Domain struct {
	MaxLeverage float64        `json:"max_leverage"`
	BillLength  []SpeciesRange `json:"bill_length_mm_by_species"` // in level order
}

// SpeciesRange is the training range of a number within one species.
type SpeciesRange struct {
	Species string  `json:"species"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// NewDomain computes the domain of the rows m was fitted to: each
// species' bill-length range, and the largest of the rows' leverages
// through m.Leverage, the computation that serving checks inputs with.
func NewDomain(rows []Observation, m *Model) (*Domain, error) {
	if len(rows) == 0 {
		return nil, errors.New("domain of no rows")
	}
	lo, hi := map[penguins.Species]float64{}, map[penguins.Species]float64{}
	d := &Domain{}
	for i, r := range rows {
		in, err := parseInput(r.BillLengthMM, r.Species, r.Sex)
		if err != nil {
			return nil, fmt.Errorf("domain row %d: %w", i, err)
		}
		d.MaxLeverage = math.Max(d.MaxLeverage, m.Leverage(in))
		if l, ok := lo[in.Species]; !ok || in.BillLengthMM < l {
			lo[in.Species] = in.BillLengthMM
		}
		if h, ok := hi[in.Species]; !ok || in.BillLengthMM > h {
			hi[in.Species] = in.BillLengthMM
		}
	}
	for _, s := range penguins.AllSpecies {
		if _, ok := lo[s]; !ok {
			return nil, fmt.Errorf("domain: no training row is %s", s)
		}
		d.BillLength = append(d.BillLength, SpeciesRange{Species: s.String(), Min: lo[s], Max: hi[s]})
	}
	return d, nil
}

// check reports whether d is well formed and consistent with the pooled
// range [lo, hi]: a leverage in (0, 1], and one range per species, in
// level order, each finite, ordered and inside the pooled range.
func (d *Domain) check(lo, hi float64) error {
	if !finite(d.MaxLeverage) || d.MaxLeverage <= 0 || d.MaxLeverage > 1 {
		return fmt.Errorf("domain: max_leverage %v, want a number in (0, 1]", d.MaxLeverage)
	}
	names := penguins.SpeciesNames()
	if len(d.BillLength) != len(names) {
		return fmt.Errorf("domain: %d species ranges, want %d", len(d.BillLength), len(names))
	}
	for i, r := range d.BillLength {
		switch {
		case r.Species != names[i]:
			return fmt.Errorf("domain: species range %d is for %q, want %q", i, r.Species, names[i])
		case !finite(r.Min, r.Max) || r.Min > r.Max:
			return fmt.Errorf("domain: %s range [%v, %v] is malformed", r.Species, r.Min, r.Max)
		case r.Min < lo || r.Max > hi:
			return fmt.Errorf("domain: %s range [%v, %v] is outside the training range [%v, %v]", r.Species, r.Min, r.Max, lo, hi)
		}
	}
	return nil
}

// equal reports whether d and e hold the same ranges and leverage (the
// leverage to rounding).
func (d *Domain) equal(e *Domain) bool {
	if len(d.BillLength) != len(e.BillLength) || !closeTo([]float64{d.MaxLeverage}, []float64{e.MaxLeverage}) {
		return false
	}
	for i := range d.BillLength {
		if d.BillLength[i] != e.BillLength[i] {
			return false
		}
	}
	return true
}

// setDomain gives m the joint-space check of d (checked).
func (m *Model) setDomain(d *Domain) {
	m.joint, m.hMax = true, d.MaxLeverage
	for i, r := range d.BillLength {
		s := penguins.AllSpecies[i]
		m.speciesLo[s], m.speciesHi[s] = r.Min, r.Max
	}
}

// ExtrapolationMessage says, in a sentence, why in (with the given
// leverage) is the extrapolation e: which range it leaves, by how much its
// leverage exceeds the training rows' largest.
func (m *Model) ExtrapolationMessage(in Input, e Extrapolation, leverage float64) string {
	return string(m.AppendExtrapolationMessage(nil, in, e, leverage))
}

// AppendExtrapolationMessage appends ExtrapolationMessage's sentence to b.
// A response lists up to a hundred of them, so the ranges are written once
// per model (setMessageText) and only the input's own numbers here. The
// sentence is plain ASCII without quotes or backslashes: it may go into a
// JSON string as it is.
func (m *Model) AppendExtrapolationMessage(b []byte, in Input, e Extrapolation, leverage float64) []byte {
	if e == 0 {
		return b
	}
	start := len(b)
	bill := func(b []byte) []byte {
		return strconv.AppendFloat(append(b, "bill_length_mm "...), in.BillLengthMM, 'g', -1, 64)
	}
	speciesRange := func(b []byte) []byte {
		b = append(b, "the "...)
		b = append(b, in.Species.String()...)
		b = append(b, " training range "...)
		if in.Species.Valid() {
			b = append(b, m.speciesSpan[in.Species]...)
		}
		return b
	}
	switch {
	case e&OutsideTrainingRange != 0 && e&OutsideSpeciesRange != 0:
		b = append(append(bill(b), " is outside the training range "...), m.billSpan...)
		b = speciesRange(append(b, " and "...))
	case e&OutsideTrainingRange != 0:
		b = append(append(bill(b), " is outside the training range "...), m.billSpan...)
	case e&OutsideSpeciesRange != 0:
		b = speciesRange(append(bill(b), " is outside "...))
	}
	if e&HighLeverage != 0 {
		if len(b) == start {
			// Each value inside its range, the combination outside the data.
			b = append(append(append(append(bill(b), " for a "...), in.Sex.String()...), ' '), in.Species.String()...)
			b = append(b, " has leverage "...)
		} else {
			b = append(b, "; leverage "...)
		}
		b = appendDistinct(b, leverage, m.hMax, m.hMaxText)
		b = append(b, ", the largest in the training data"...)
	}
	return append(b, "; the prediction is an extrapolation"...)
}

// setMessageText writes the ranges that AppendExtrapolationMessage names.
func (m *Model) setMessageText() {
	span := func(lo, hi float64) []byte {
		b := strconv.AppendFloat([]byte{'['}, lo, 'g', -1, 64)
		return append(strconv.AppendFloat(append(b, ", "...), hi, 'g', -1, 64), ']')
	}
	m.billSpan = span(m.billLo, m.billHi)
	for _, s := range penguins.AllSpecies {
		m.speciesSpan[s] = span(m.speciesLo[s], m.speciesHi[s])
	}
	m.hMaxText = strconv.FormatFloat(m.hMax, 'g', 2, 64)
}

// appendDistinct appends "a > b" with both to 2 significant digits, or
// more where that would print them alike; bText is b to 2 digits.
func appendDistinct(dst []byte, a, b float64, bText string) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, a, 'g', 2, 64)
	if string(dst[start:]) != bText {
		return append(append(dst, " > "...), bText...)
	}
	sa, sb := distinct(a, b)
	return append(append(append(dst[:start], sa...), " > "...), sb...)
}

// distinct formats a and b to 2 significant digits, or more where that
// would print them alike.
func distinct(a, b float64) (string, string) {
	for p := 2; ; p++ {
		sa, sb := strconv.FormatFloat(a, 'g', p, 64), strconv.FormatFloat(b, 'g', p, 64)
		if sa != sb || p >= 17 {
			return sa, sb
		}
	}
}
