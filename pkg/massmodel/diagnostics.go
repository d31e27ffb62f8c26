package massmodel

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/palmerops/penguins/pkg/penguins"
)

// FittedRow is one row the model was fitted to, with the model's fitted
// value for it.
type FittedRow struct {
	Observation
	Fitted   float64 // the prediction for the row's inputs
	Residual float64 // observed minus fitted
}

// Diagnostics are the fitted values and residuals of the rows a model was
// fitted to: what residual and predicted-against-observed plots need.
type Diagnostics struct {
	// DataSource is empty when the rows are the artifact's own; otherwise
	// it names the data they were recomputed from.
	DataSource string
	Rows       []FittedRow
}

// ErrNoDiagnostics means the rows an artifact was fitted to are not at hand.
var ErrNoDiagnostics = errors.New("diagnostics unavailable")

// Diagnose returns the fitted values and residuals of the rows a was fitted
// to, each predicted by m (a's verified model) through Model.Predict, the
// prediction /predict serves. The rows are the artifact's own observations.
// Artifacts written before observations were stored have none; for them the
// rows are recomputed from data (which may be nil), but only when data is
// the data a was trained on (the same digest). Otherwise the error wraps
// ErrNoDiagnostics and says why.
func Diagnose(ctx context.Context, a *Artifact, m *Model, data penguins.Source) (*Diagnostics, error) {
	if a.Observations != nil {
		rows, err := residuals(a, m, a.Observations)
		if err != nil {
			return nil, err
		}
		return &Diagnostics{Rows: rows}, nil
	}
	const old = "the artifact predates stored training rows"
	if data == nil {
		return nil, fmt.Errorf("%w: %s and no data is at hand to recompute them", ErrNoDiagnostics, old)
	}
	all, err := data.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %s, and reading %s failed: %v", ErrNoDiagnostics, old, data.Describe(), err)
	}
	if d := penguins.Digest(all); d != a.Data.SHA256 {
		return nil, fmt.Errorf("%w: %s, and it was trained on %s (data sha256 %.12s…), not on the data this service has, %s (data sha256 %.12s…)",
			ErrNoDiagnostics, old, a.Data.Source, a.Data.SHA256, data.Describe(), d)
	}
	rows, err := residuals(a, m, observations(CompleteCases(all)))
	if err != nil {
		return nil, fmt.Errorf("%w: recomputing from %s: %v", ErrNoDiagnostics, data.Describe(), err)
	}
	return &Diagnostics{DataSource: data.Describe(), Rows: rows}, nil
}

// observations turns complete cases into the artifact's observations.
func observations(cc []penguins.Penguin) []Observation {
	out := make([]Observation, len(cc))
	for i, p := range cc {
		out[i] = Observation{
			BillLengthMM: p.BillLengthMM.Float64, Species: p.Species.String(), Sex: p.Sex.String(), BodyMassG: p.BodyMassG.Float64,
		}
	}
	return out
}

// residuals predicts every observation with m and checks that they are the
// rows a was fitted to: as many as the fit used, and giving the fit's RMSE.
func residuals(a *Artifact, m *Model, obs []Observation) ([]FittedRow, error) {
	if len(obs) != a.Metrics.N {
		return nil, fmt.Errorf("%d rows, but the model was fitted to %d", len(obs), a.Metrics.N)
	}
	rows := make([]FittedRow, len(obs))
	var rss float64
	for i, o := range obs {
		in, err := parseInput(o.BillLengthMM, o.Species, o.Sex)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if !finite(o.BodyMassG) {
			return nil, fmt.Errorf("row %d: body_mass_g is not finite", i)
		}
		fit := m.Predict(in)
		rows[i] = FittedRow{Observation: o, Fitted: fit, Residual: o.BodyMassG - fit}
		rss += rows[i].Residual * rows[i].Residual
	}
	rmse := math.Sqrt(rss / float64(len(rows)))
	if math.Abs(rmse-a.Metrics.RMSE) > goldenTolerance*math.Max(1, a.Metrics.RMSE) {
		return nil, fmt.Errorf("the rows give an RMSE of %g, the fit recorded %g: they are not the rows the model was fitted to", rmse, a.Metrics.RMSE)
	}
	return rows, nil
}
