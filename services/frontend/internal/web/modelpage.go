package web

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// Chart file names of the model diagnostics, under model/<version>/.
const (
	chartResiduals = "residuals.svg"
	chartPredObs   = "predicted-observed.svg"
)

// modelCharts are the diagnostic charts of one model version, or why the
// model service has none.
type modelCharts struct {
	files  map[string][]byte // nil when unavailable
	reason string            // the model service's reason, when unavailable
}

// maxModelVersions bounds the charts kept: one set per version seen.
const maxModelVersions = 8

// errOtherVersion means the model service serves another version than the
// one asked for: an old chart link, or a new model loaded between calls.
var errOtherVersion = errors.New("the model service serves another version")

// chartsFor returns the diagnostic charts of version, drawn from the model
// service's /diagnostics: the fitted values and residuals it computed with
// the model it serves. The frontend never applies the model itself. Charts
// are drawn once per version and kept (a version names its content, so they
// cannot change); an answer without diagnostics, or a failed call, is not
// kept, so the next page asks again.
func (a *App) chartsFor(ctx context.Context, version string) (*modelCharts, error) {
	a.mu.Lock()
	mc, ok := a.modelCharts[version]
	a.mu.Unlock()
	if ok {
		return mc, nil
	}
	// A version not served has no charts to draw: a link naming one must
	// not cost a diagnostics call (isServed costs at most one call a
	// second, whatever the links).
	served, err := a.isServed(ctx, version)
	if err != nil {
		return nil, err
	}
	if !served {
		return nil, fmt.Errorf("%w: no charts of version %s", errOtherVersion, service.Clip(version, 64))
	}
	// Concurrent requests share one call and one drawing.
	res, err, _ := a.diagnosticsCalls.Do(version, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ModelBudget)
		defer cancel()
		d, err := a.api.Diagnostics(ctx)
		if err != nil {
			return nil, err
		}
		a.served.note(d.Version)
		if d.Version != version {
			return nil, fmt.Errorf("%w: diagnostics of %s, want %s", errOtherVersion, d.Version, version)
		}
		if !d.Available {
			return &modelCharts{reason: d.Reason}, nil
		}
		files, err := drawModelCharts(d.Rows)
		if err != nil {
			return nil, fmt.Errorf("diagnostics of %s: %w", version, err)
		}
		mc := &modelCharts{files: files}
		a.mu.Lock()
		if len(a.modelCharts) >= maxModelVersions {
			clear(a.modelCharts) // old versions' charts are no longer linked
		}
		a.modelCharts[version] = mc
		a.mu.Unlock()
		return mc, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*modelCharts), nil
}

// diagnosticSeries groups the rows by species, in the data set's order of
// species (any other names after them, as they come), as points of
// (fitted, residual) and (fitted, observed).
func diagnosticSeries(rows []modelapi.DiagnosticRow) (resid, predObs []charts.Series) {
	names := penguins.SpeciesNames()
	for _, r := range rows {
		if !slices.Contains(names, r.Species) {
			names = append(names, r.Species)
		}
	}
	for _, name := range names {
		rs, ps := charts.Series{Name: name}, charts.Series{Name: name}
		for _, r := range rows {
			if r.Species == name {
				rs.Points = append(rs.Points, charts.Point{X: r.Fitted, Y: r.Residual})
				ps.Points = append(ps.Points, charts.Point{X: r.Fitted, Y: r.BodyMassG})
			}
		}
		if len(rs.Points) > 0 {
			resid, predObs = append(resid, rs), append(predObs, ps)
		}
	}
	return resid, predObs
}

func drawModelCharts(rows []modelapi.DiagnosticRow) (map[string][]byte, error) {
	rs, ps := diagnosticSeries(rows)
	r, err := charts.Residuals("Residuals against fitted values", rs)
	if err != nil {
		return nil, err
	}
	po, err := charts.PredictedObserved("Observed against predicted body mass", ps)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{chartResiduals: r, chartPredObs: po}, nil
}

// modelView turns the served metadata into the Model page.
func modelView(md *modelapi.Metadata, links views.Links) views.ModelPage {
	v := views.ModelPage{
		Version: md.Version, Created: md.Created.UTC().Format("2006-01-02 15:04 UTC"), Formula: md.Formula,
		DataSHA256: md.Data.SHA256, DataSource: md.Data.Source,
		R2: fmt.Sprintf("%.4f", md.Metrics.R2), AdjR2: fmt.Sprintf("%.4f", md.Metrics.AdjR2),
		RMSE: fmt.Sprintf("%.1f", md.Metrics.RMSE), Sigma: fmt.Sprintf("%.1f", md.Metrics.Sigma),
		N: fmt.Sprint(md.Metrics.N), DF: fmt.Sprint(md.Metrics.DF),
	}
	for _, c := range md.Coefficients {
		v.Coefs = append(v.Coefs, views.CoefRow{
			Term: c.Term, Estimate: fmt.Sprintf("%.2f", c.Estimate), StdError: fmt.Sprintf("%.2f", c.StdError),
			T: fmt.Sprintf("%.2f", c.TValue), P: fmtP(c.PValue),
		})
	}
	dir := links.Charts + "model/" + md.Version + "/"
	v.Residuals = views.Chart{Src: dir + chartResiduals, Alt: "Residuals against fitted body mass, coloured by species, scattered evenly around zero."}
	v.PredObs = views.Chart{Src: dir + chartPredObs, Alt: "Observed against predicted body mass, coloured by species, close to the identity line."}
	return v
}

// fmtP formats a p-value as R's summary does for tiny values.
func fmtP(p float64) string {
	if p < 2e-16 {
		return "< 2e-16"
	}
	return fmt.Sprintf("%.3g", p)
}

// modelPage is the Model page for the served metadata with its diagnostic
// charts. Without charts the page says why: the model service has no
// diagnostics for the version (its reason), or fetching them failed (err,
// for the caller to log; the page is complete all the same).
func (a *App) modelPage(ctx context.Context, md *modelapi.Metadata, links views.Links) (views.ModelPage, map[string][]byte, error) {
	v := modelView(md, links)
	v.Layout = a.layout("Model", "model", links)
	mc, err := a.chartsFor(ctx, md.Version)
	switch {
	case err != nil:
		v.NoDiagnostics = "The model service did not send this version's diagnostics just now, so the plots are missing; reload the page to try again."
		return v, nil, err
	case mc.files == nil:
		v.NoDiagnostics = "The model service has no diagnostics for this version: " + mc.reason + "."
		return v, nil, nil
	}
	return v, mc.files, nil
}
