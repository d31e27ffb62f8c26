package web

import (
	"errors"
	"fmt"
	"sync"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// Chart file names of the model diagnostics, under model/<version>/.
const (
	chartResiduals = "residuals.svg"
	chartPredObs   = "predicted-observed.svg"
)

// modelCharts are the diagnostics of one model version, drawn once.
type modelCharts struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

// maxModelVersions bounds the diagnostics kept: one set per version seen.
const maxModelVersions = 8

// errOtherData means the served model was trained on data other than the
// embedded copy, so the frontend cannot draw its residuals.
var errOtherData = errors.New("the served model was trained on other data than the frontend's copy")

// chartsFor returns the diagnostics for the version md describes, drawing
// them on first use: the served coefficients applied to the complete cases
// of the embedded data, which must be the data the model was trained on
// (same digest); otherwise errOtherData.
func (a *App) chartsFor(md *modelapi.Metadata) (map[string][]byte, error) {
	if md.Data.SHA256 != a.dataSHA256 {
		return nil, errOtherData
	}
	a.mu.Lock()
	mc, ok := a.modelCharts[md.Version]
	if !ok {
		if len(a.modelCharts) >= maxModelVersions {
			clear(a.modelCharts) // old versions' charts are no longer linked
		}
		mc = &modelCharts{}
		a.modelCharts[md.Version] = mc
	}
	a.mu.Unlock()
	mc.once.Do(func() { mc.files, mc.err = drawModelCharts(md, a.rows) })
	return mc.files, mc.err
}

func drawModelCharts(md *modelapi.Metadata, rows []penguins.Penguin) (map[string][]byte, error) {
	if len(md.Coefficients) != massmodel.P {
		return nil, fmt.Errorf("model metadata has %d coefficients, want %d", len(md.Coefficients), massmodel.P)
	}
	resid := map[penguins.Species]*charts.Series{}
	predObs := map[penguins.Species]*charts.Series{}
	for _, sp := range penguins.AllSpecies {
		resid[sp] = &charts.Series{Name: sp.String()}
		predObs[sp] = &charts.Series{Name: sp.String()}
	}
	for _, p := range massmodel.CompleteCases(rows) {
		x := massmodel.Design(massmodel.Input{BillLengthMM: p.BillLengthMM.Float64, Species: p.Species, Sex: p.Sex})
		var fit float64
		for i, c := range md.Coefficients {
			fit += c.Estimate * x[i]
		}
		obs := p.BodyMassG.Float64
		resid[p.Species].Points = append(resid[p.Species].Points, charts.Point{X: fit, Y: obs - fit})
		predObs[p.Species].Points = append(predObs[p.Species].Points, charts.Point{X: fit, Y: obs})
	}
	var rs, ps []charts.Series
	for _, sp := range penguins.AllSpecies {
		rs, ps = append(rs, *resid[sp]), append(ps, *predObs[sp])
	}
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

// modelPage is the Model page for the served metadata, with its diagnostic
// charts (nil, with a note on the page, when the model was trained on data
// the frontend does not have).
func (a *App) modelPage(md *modelapi.Metadata, links views.Links) (views.ModelPage, map[string][]byte, error) {
	v := modelView(md, links)
	v.Layout = a.layout("Model", "model", links)
	files, err := a.chartsFor(md)
	if errors.Is(err, errOtherData) {
		v.NoDiagnostics = "The served model was trained on " + md.Data.Source + ", not on the data this site embeds, so its residuals cannot be drawn here."
		return v, nil, nil
	}
	return v, files, err
}
