// Package massmodel is the penguin body-mass model: its features, training by
// ordinary least squares, the versioned artifact and prediction. It knows
// nothing about HTTP.
package massmodel

import (
	"fmt"
	"math"

	"github.com/palmerops/penguins/pkg/penguins"
)

// Name is the model's name in the model store, as in the book's labs.
const Name = "penguin_model"

// Formula is the model in R's notation.
const Formula = "body_mass_g ~ bill_length_mm + species + sex"

// P is the number of coefficients: intercept, bill length, two species
// indicators (Adelie is the baseline) and one sex indicator (female is the
// baseline).
const P = 5

// Terms names the coefficients as R's lm() does.
var Terms = [P]string{"(Intercept)", "bill_length_mm", "speciesChinstrap", "speciesGentoo", "sexmale"}

// Plausible bounds for a bill length. Values outside are rejected as input
// errors; values inside but outside the training range are predicted and
// flagged as extrapolation.
const (
	MinBillLengthMM = 0   // exclusive
	MaxBillLengthMM = 150 // inclusive; the largest penguin bill is under 100 mm
)

// Input is one penguin to predict for.
type Input struct {
	BillLengthMM float64
	Species      penguins.Species
	Sex          penguins.Sex
}

// CheckBillLength returns why v is not an acceptable bill length, or "".
func CheckBillLength(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "a finite number"
	case v <= MinBillLengthMM || v > MaxBillLengthMM:
		return fmt.Sprintf("a bill length in millimetres greater than %d and at most %d", MinBillLengthMM, MaxBillLengthMM)
	}
	return ""
}

// Design returns the row of the design matrix for in, in the order of Terms.
func Design(in Input) [P]float64 {
	var x [P]float64
	x[0] = 1
	x[1] = in.BillLengthMM
	if in.Species == penguins.Chinstrap {
		x[2] = 1
	}
	if in.Species == penguins.Gentoo {
		x[3] = 1
	}
	if in.Sex == penguins.Male {
		x[4] = 1
	}
	return x
}

// Model is a fitted model ready to predict. It is immutable and safe for
// concurrent use.
type Model struct {
	coef   [P]float64
	cov    [P][P]float64
	sigma2 float64
	tcrit  float64 // Student's t quantile for 95% intervals
	billLo float64 // training range of bill_length_mm
	billHi float64

	// The joint-space check, from the artifact's Domain; joint is false
	// (and only the pooled range is checked) for artifacts that predate it.
	joint                bool
	hMax                 float64                      // largest leverage of a training row
	speciesLo, speciesHi [penguins.Gentoo + 1]float64 // bill_length_mm range, indexed by species
	covScale             float64                      // 1/sigma²: leverage = x' Cov x / sigma²
	// The leverage in each species × sex cell is a quadratic in bill
	// length b, lev[species][sex] = {c0, c1, c2}: c0 + c1 b + c2 b².
	lev [penguins.Gentoo + 1][penguins.Male + 1][3]float64

	// The ranges and hMax as AppendExtrapolationMessage writes them.
	billSpan    []byte
	speciesSpan [penguins.Gentoo + 1][]byte
	hMaxText    string
}

// Predict returns the expected body mass in grams. It does not allocate.
func (m *Model) Predict(in Input) float64 {
	x := Design(in)
	var y float64
	for i := range x {
		y += m.coef[i] * x[i]
	}
	return y
}

// Interval returns the prediction and its 95% prediction interval, the range
// that a new penguin's observed mass falls in with 95% probability under the
// model's assumptions. It does not allocate.
func (m *Model) Interval(in Input) (fit, lower, upper float64) {
	fit, lower, upper, _ = m.IntervalLeverage(in)
	return fit, lower, upper
}

// IntervalLeverage is Interval with the leverage of in: the interval's
// x′ Cov x over sigma², so it costs one multiplication more. It does not
// allocate.
func (m *Model) IntervalLeverage(in Input) (fit, lower, upper, leverage float64) {
	x := Design(in)
	var v float64 // x' Cov x: the variance of the fitted mean
	for i := range x {
		fit += m.coef[i] * x[i]
		for j := range x {
			v += x[i] * m.cov[i][j] * x[j]
		}
	}
	half := m.tcrit * math.Sqrt(m.sigma2+v)
	return fit, fit - half, fit + half, v * m.covScale
}

// Leverage returns the leverage of in, x′(X′X)⁻¹x for its design row x:
// how far in lies from the centre of the training rows, in the model's
// own geometry. For a training row it is that row's hat value. It is the
// same quadratic form as IntervalLeverage's, written once per species and
// sex as a quadratic in bill length, so that a prediction without an
// interval pays three multiply-adds for it. It does not allocate.
func (m *Model) Leverage(in Input) float64 {
	if !in.Species.Valid() || !in.Sex.Valid() {
		_, _, _, h := m.IntervalLeverage(in)
		return h
	}
	c := &m.lev[in.Species][in.Sex]
	b := in.BillLengthMM
	return c[0] + b*(c[1]+b*c[2])
}

// setLeverage writes the leverage of each species × sex cell as a
// quadratic in bill length: with x = x₀ + b e₁ (x₀ the cell's design row
// at b = 0), x′Ax = x₀′Ax₀ + 2b e₁′Ax₀ + b² A₁₁.
func (m *Model) setLeverage() {
	for _, s := range penguins.AllSpecies {
		for _, sex := range penguins.AllSexes {
			x0 := Design(Input{Species: s, Sex: sex})
			var c0, c1 float64
			for i := range x0 {
				for j := range x0 {
					c0 += x0[i] * m.cov[i][j] * x0[j]
				}
				c1 += 2 * m.cov[1][i] * x0[i]
			}
			m.lev[s][sex] = [3]float64{c0 * m.covScale, c1 * m.covScale, m.cov[1][1] * m.covScale}
		}
	}
}

// Contributions returns each term's share of the prediction (coefficient ×
// feature value); they sum to Predict(in).
func (m *Model) Contributions(in Input) [P]float64 {
	x := Design(in)
	for i := range x {
		x[i] *= m.coef[i]
	}
	return x
}

// Extrapolation says in which ways an input lies outside the data a model
// was fitted to: a set of Reasons, empty when the input is inside.
type Extrapolation uint8

// The reasons, as bits of an Extrapolation.
const (
	// OutsideTrainingRange: the bill length is outside the pooled training
	// range, all species together.
	OutsideTrainingRange Extrapolation = 1 << iota
	// OutsideSpeciesRange: the bill length is outside the training range of
	// the input's species.
	OutsideSpeciesRange
	// HighLeverage: the input's leverage exceeds the largest of any
	// training row, so the combination of its values lies outside the
	// training data even where each value lies inside its own range.
	HighLeverage
)

// Reasons lists every reason, in the order of their bits.
var Reasons = []Extrapolation{OutsideTrainingRange, OutsideSpeciesRange, HighLeverage}

// String is the reason's name in the API and the metrics; for a set, the
// names joined by "+".
func (e Extrapolation) String() string {
	var s string
	for _, r := range Reasons {
		if e&r == 0 {
			continue
		}
		if s != "" {
			s += "+"
		}
		switch r {
		case OutsideTrainingRange:
			s += "training_range"
		case OutsideSpeciesRange:
			s += "species_range"
		case HighLeverage:
			s += "leverage"
		}
	}
	return s
}

// leverageTolerance is how far above the largest training leverage an
// input's may lie and still count as inside: rounding (a platform may fuse
// multiply-adds differently from the one that trained), not data.
const leverageTolerance = 1e-9

// Extrapolation checks in against the training data, given its leverage
// (from Leverage or IntervalLeverage). For a model whose artifact predates
// the joint-space check, only the pooled range is checked (see Joint). It
// does not allocate.
func (m *Model) Extrapolation(in Input, leverage float64) Extrapolation {
	var e Extrapolation
	b := in.BillLengthMM
	if b < m.billLo || b > m.billHi {
		e |= OutsideTrainingRange
	}
	if !m.joint {
		return e
	}
	if s := in.Species; !s.Valid() || b < m.speciesLo[s] || b > m.speciesHi[s] {
		e |= OutsideSpeciesRange
	}
	if leverage > m.hMax*(1+leverageTolerance) {
		e |= HighLeverage
	}
	return e
}

// Joint reports whether the model checks inputs jointly (species ranges
// and leverage) rather than against the pooled range alone.
func (m *Model) Joint() bool { return m.joint }

// MaxLeverage is the largest leverage of a training row; 0 without the
// joint-space check.
func (m *Model) MaxLeverage() float64 { return m.hMax }

// SpeciesBillLengthRange is the training range of bill_length_mm within
// species s; ok is false without the joint-space check.
func (m *Model) SpeciesBillLengthRange(s penguins.Species) (lo, hi float64, ok bool) {
	if !m.joint || !s.Valid() {
		return 0, 0, false
	}
	return m.speciesLo[s], m.speciesHi[s], true
}

// InTrainingRange reports whether in's bill length lies within the range
// seen in training.
func (m *Model) InTrainingRange(in Input) bool {
	return in.BillLengthMM >= m.billLo && in.BillLengthMM <= m.billHi
}

// BillLengthRange is the training range of bill_length_mm.
func (m *Model) BillLengthRange() (lo, hi float64) { return m.billLo, m.billHi }

// Coefficients returns the fitted coefficients in the order of Terms.
func (m *Model) Coefficients() [P]float64 { return m.coef }
