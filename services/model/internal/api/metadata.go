package api

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// metadataOf maps the served artifact onto the API's Metadata: the one place
// where the storage format becomes the wire format. Every field of the
// artifact is carried except its observations, which /diagnostics serves
// with their fitted values (TestMetadataCarriesEveryArtifactField).
func metadataOf(a *massmodel.Artifact, serving modelapi.Serving) modelapi.Metadata {
	md := modelapi.Metadata{
		Name:          a.Name,
		Version:       a.Version,
		ContentSHA256: a.ContentSHA256,
		Created:       a.Created,
		Formula:       a.Formula,
		Data: modelapi.DataInfo{
			Source:       a.Data.Source,
			SHA256:       a.Data.SHA256,
			Rows:         a.Data.Rows,
			TrainingRows: a.Data.TrainingRows,
			Dropped:      maps.Clone(a.Data.Dropped),
		},
		Schema: modelapi.FeatureSchema{
			Target:  featureOf(a.Schema.Target),
			Version: a.Schema.Version,
		},
		Metrics: modelapi.Metrics{
			R2: a.Metrics.R2, AdjR2: a.Metrics.AdjR2, Sigma: a.Metrics.Sigma, RMSE: a.Metrics.RMSE,
			N: a.Metrics.N, DF: a.Metrics.DF, TCrit: a.Metrics.TCrit, Level: a.Metrics.Level, Method: a.Metrics.Method,
		},
		Build: modelapi.TrainerBuild{
			Trainer: a.Build.Trainer, Version: a.Build.Version, Commit: a.Build.Commit,
			GoVersion: a.Build.GoVersion, Libraries: maps.Clone(a.Build.Libraries),
		},
		Serving: serving,
	}
	if p := a.Profile; p != nil {
		md.Profile = &modelapi.Profile{
			BillLength: numericProfileOf(p.BillLength),
			Species:    modelapi.CategoricalProfile{Levels: slices.Clone(p.Species.Levels), Shares: slices.Clone(p.Species.Shares)},
			Sex:        modelapi.CategoricalProfile{Levels: slices.Clone(p.Sex.Levels), Shares: slices.Clone(p.Sex.Shares)},
			Prediction: numericProfileOf(p.Prediction),
		}
	}
	md.Extrapolation = extrapolationCheckOf(a)
	if d := a.Domain; d != nil {
		md.Domain = &modelapi.Domain{MaxLeverage: d.MaxLeverage}
		for _, r := range d.BillLength {
			md.Domain.BillLength = append(md.Domain.BillLength, modelapi.SpeciesRange{Species: r.Species, Min: r.Min, Max: r.Max})
		}
	}
	if md.Data.Dropped == nil {
		md.Data.Dropped = map[string]int{} // the API promises an object
	}
	for _, f := range a.Schema.Inputs {
		md.Schema.Inputs = append(md.Schema.Inputs, featureOf(f))
	}
	for _, c := range a.Coefficients {
		md.Coefficients = append(md.Coefficients, modelapi.Coefficient{
			Term: c.Term, Estimate: c.Estimate, StdError: c.StdError, TValue: c.TValue, PValue: c.PValue,
		})
	}
	for _, row := range a.Covariance {
		md.Covariance = append(md.Covariance, append([]float64(nil), row...))
	}
	for _, g := range a.Golden {
		md.Golden = append(md.Golden, modelapi.Golden{
			Input:     modelapi.Record{BillLengthMM: g.Input.BillLengthMM, Species: g.Input.Species, Sex: g.Input.Sex},
			BodyMassG: g.Output,
		})
	}
	return md
}

// extrapolationCheckOf says how records scored by a's model are judged
// extrapolations: jointly when a has a domain, else (an artifact from
// before) by the pooled range alone.
func extrapolationCheckOf(a *massmodel.Artifact) modelapi.ExtrapolationCheck {
	if a.Domain == nil {
		return modelapi.ExtrapolationCheck{
			Check:   modelapi.ExtrapolationPooled,
			Reasons: []string{modelapi.ReasonTrainingRange},
			Detail: "the artifact predates stored per-species ranges and training leverage, so only the pooled training range of " +
				fBill + " is checked; retrain to check each species' range and the leverage",
		}
	}
	return modelapi.ExtrapolationCheck{
		Check:   modelapi.ExtrapolationJoint,
		Reasons: []string{modelapi.ReasonTrainingRange, modelapi.ReasonSpeciesRange, modelapi.ReasonLeverage},
		Detail: fmt.Sprintf("a record is an extrapolation when %s is outside the pooled training range or its species' range, "+
			"or when its leverage exceeds %.4g, the largest of any training row", fBill, a.Domain.MaxLeverage),
	}
}

func numericProfileOf(p massmodel.NumericProfile) modelapi.NumericProfile {
	return modelapi.NumericProfile{Edges: slices.Clone(p.Edges), Shares: slices.Clone(p.Shares)}
}

func featureOf(f massmodel.Feature) modelapi.Feature {
	return modelapi.Feature{
		Name: f.Name, Type: f.Type, Unit: f.Unit, Levels: append([]string(nil), f.Levels...), Baseline: f.Baseline,
		Min: clonePtr(f.Min), Max: clonePtr(f.Max), Mean: clonePtr(f.Mean),
	}
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// diagnosticsOf is the body of /diagnostics for the served artifact: the
// rows of d, or, when err says they are unavailable, the reason.
func diagnosticsOf(a *massmodel.Artifact, d *massmodel.Diagnostics, err error) modelapi.Diagnostics {
	out := modelapi.Diagnostics{Model: a.Name, Version: a.Version, Rows: []modelapi.DiagnosticRow{}}
	if err != nil {
		// available is false already; the reason need not say so again.
		out.Reason = strings.TrimPrefix(err.Error(), massmodel.ErrNoDiagnostics.Error()+": ")
		return out
	}
	out.Available = true
	out.Source, out.DataSource = modelapi.DiagnosticsFromArtifact, ""
	if d.DataSource != "" {
		out.Source, out.DataSource = modelapi.DiagnosticsFromData, d.DataSource
	}
	out.Rows = make([]modelapi.DiagnosticRow, len(d.Rows))
	for i, r := range d.Rows {
		out.Rows[i] = modelapi.DiagnosticRow{
			BillLengthMM: r.BillLengthMM, Species: r.Species, Sex: r.Sex,
			BodyMassG: r.BodyMassG, Fitted: r.Fitted, Residual: r.Residual,
		}
	}
	return out
}
