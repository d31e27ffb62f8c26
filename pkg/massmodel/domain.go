package massmodel

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

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
// leverage exceeds the training rows' largest. It is for warnings, off the
// hot path.
func (m *Model) ExtrapolationMessage(in Input, e Extrapolation, leverage float64) string {
	if e == 0 {
		return ""
	}
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	span := func(lo, hi float64) string { return "[" + g(lo) + ", " + g(hi) + "]" }
	bill := "bill_length_mm " + g(in.BillLengthMM)
	var parts []string
	species := in.Species.String()
	switch {
	case e&OutsideTrainingRange != 0 && e&OutsideSpeciesRange != 0:
		parts = append(parts, bill+" is outside the training range "+span(m.billLo, m.billHi)+
			" and the "+species+" training range "+span(m.speciesLo[in.Species], m.speciesHi[in.Species]))
	case e&OutsideTrainingRange != 0:
		parts = append(parts, bill+" is outside the training range "+span(m.billLo, m.billHi))
	case e&OutsideSpeciesRange != 0:
		parts = append(parts, bill+" is outside the "+species+" training range "+span(m.speciesLo[in.Species], m.speciesHi[in.Species]))
	}
	if e&HighLeverage != 0 {
		h, max := distinct(leverage, m.hMax)
		if len(parts) == 0 {
			// Each value inside its range, the combination outside the data.
			parts = append(parts, bill+" for a "+in.Sex.String()+" "+species+" has leverage "+h+" > "+max+", the largest in the training data")
		} else {
			parts = append(parts, "leverage "+h+" > "+max+", the largest in the training data")
		}
	}
	return strings.Join(parts, "; ") + "; the prediction is an extrapolation"
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
