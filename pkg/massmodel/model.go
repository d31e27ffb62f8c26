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
	x := Design(in)
	var v float64 // x' Cov x: the variance of the fitted mean
	for i := range x {
		fit += m.coef[i] * x[i]
		for j := range x {
			v += x[i] * m.cov[i][j] * x[j]
		}
	}
	half := m.tcrit * math.Sqrt(m.sigma2+v)
	return fit, fit - half, fit + half
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

// InTrainingRange reports whether in's bill length lies within the range
// seen in training.
func (m *Model) InTrainingRange(in Input) bool {
	return in.BillLengthMM >= m.billLo && in.BillLengthMM <= m.billHi
}

// BillLengthRange is the training range of bill_length_mm.
func (m *Model) BillLengthRange() (lo, hi float64) { return m.billLo, m.billHi }

// Coefficients returns the fitted coefficients in the order of Terms.
func (m *Model) Coefficients() [P]float64 { return m.coef }
