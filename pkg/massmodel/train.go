package massmodel

import (
	"errors"
	"fmt"
	"math"

	"github.com/sajari/regression"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/palmerops/penguins/pkg/penguins"
)

// Fit is the result of fitting the model: what a model report and prediction
// intervals need, with the names R's summary.lm() uses.
type Fit struct {
	Coefficients [P]float64
	StdErrors    [P]float64
	TValues      [P]float64
	PValues      [P]float64
	Covariance   [P][P]float64 // of the coefficients: sigma² (X'X)⁻¹
	R2           float64
	AdjR2        float64
	Sigma        float64 // residual standard error, sqrt(RSS / df)
	RMSE         float64 // sqrt(RSS / n)
	N            int     // complete cases used
	DF           int     // residual degrees of freedom, N - P
	Residuals    []float64
	Fitted       []float64
	Observed     []float64

	BillLengthMin, BillLengthMax, BillLengthMean float64
}

// CompleteCases returns the rows that have every field the model needs.
func CompleteCases(rows []penguins.Penguin) []penguins.Penguin {
	var out []penguins.Penguin
	for _, p := range rows {
		if len(p.MissingFields()) == 0 {
			out = append(out, p)
		}
	}
	return out
}

// Train fits body_mass_g ~ bill_length_mm + species + sex by ordinary least
// squares on the complete cases of rows.
func Train(rows []penguins.Penguin) (*Fit, error) {
	cc := CompleteCases(rows)
	if len(cc) <= P {
		return nil, fmt.Errorf("train: %d complete rows, need more than %d", len(cc), P)
	}
	seen := map[penguins.Species]bool{}
	sexes := map[penguins.Sex]bool{}
	for _, p := range cc {
		seen[p.Species] = true
		sexes[p.Sex] = true
	}
	if len(seen) != len(penguins.AllSpecies) || len(sexes) != len(penguins.AllSexes) {
		return nil, errors.New("train: every species and both sexes must appear among the complete rows")
	}

	r := new(regression.Regression)
	r.SetObserved("body_mass_g")
	for i, t := range Terms[1:] {
		r.SetVar(i, t)
	}
	n := len(cc)
	X := mat.NewDense(n, P, nil)
	y := make([]float64, n)
	f := &Fit{N: n, DF: n - P, Observed: y}
	for i, p := range cc {
		x := Design(Input{BillLengthMM: p.BillLengthMM.Float64, Species: p.Species, Sex: p.Sex})
		X.SetRow(i, x[:])
		y[i] = p.BodyMassG.Float64
		r.Train(regression.DataPoint(y[i], append([]float64(nil), x[1:]...)))
	}
	if err := r.Run(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	for i := range f.Coefficients {
		f.Coefficients[i] = r.Coeff(i)
	}

	// Inference: residuals, sigma², and the coefficient covariance from the
	// inverse of X'X (via Cholesky; X has full column rank, checked above).
	var rss, sum float64
	f.Residuals = make([]float64, n)
	f.Fitted = make([]float64, n)
	for i := range y {
		var fit float64
		for j := 0; j < P; j++ {
			fit += X.At(i, j) * f.Coefficients[j]
		}
		f.Fitted[i] = fit
		f.Residuals[i] = y[i] - fit
		rss += f.Residuals[i] * f.Residuals[i]
		sum += y[i]
	}
	mean := sum / float64(n)
	var tss float64
	for _, v := range y {
		tss += (v - mean) * (v - mean)
	}
	sigma2 := rss / float64(f.DF)
	f.Sigma = math.Sqrt(sigma2)
	f.RMSE = math.Sqrt(rss / float64(n))
	f.R2 = 1 - rss/tss
	f.AdjR2 = 1 - (1-f.R2)*float64(n-1)/float64(f.DF)

	var xtx mat.SymDense
	xtx.SymOuterK(1, X.T())
	var chol mat.Cholesky
	if !chol.Factorize(&xtx) {
		return nil, errors.New("train: the design matrix is rank deficient")
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		return nil, fmt.Errorf("train: inverting X'X: %w", err)
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(f.DF)}
	for i := 0; i < P; i++ {
		for j := 0; j < P; j++ {
			f.Covariance[i][j] = sigma2 * inv.At(i, j)
		}
		f.StdErrors[i] = math.Sqrt(f.Covariance[i][i])
		f.TValues[i] = f.Coefficients[i] / f.StdErrors[i]
		// Two-sided p-value from the lower tail, which keeps its precision
		// where 1-CDF would round to zero.
		f.PValues[i] = 2 * t.CDF(-math.Abs(f.TValues[i]))
	}

	f.BillLengthMin, f.BillLengthMax = math.Inf(1), math.Inf(-1)
	for _, p := range cc {
		v := p.BillLengthMM.Float64
		f.BillLengthMin = math.Min(f.BillLengthMin, v)
		f.BillLengthMax = math.Max(f.BillLengthMax, v)
		f.BillLengthMean += v / float64(n)
	}
	return f, nil
}

// tCritical is the two-sided 95% quantile of Student's t with df degrees of freedom.
func tCritical(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}
