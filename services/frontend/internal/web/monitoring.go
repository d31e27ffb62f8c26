package web

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// alertRulesPath is where the repository keeps the Prometheus alert rules.
const alertRulesPath = "deploy/monitoring/alerts.yml"

// monitoring serves the model service's drift report, the served model's
// performance on ground truth and its comparison with the shadow's
// challenger. All are live (drift changes with
// every scored record, performance with every evaluation pinned), so their
// charts are drawn for each page and put in the page itself: the charts
// always agree with the tables beside them. The calls run side by side
// under the page's budget, and one failing costs only its own part: the
// page is an error only when neither drift nor performance answered.
func (a *App) monitoring(c echo.Context) error {
	v := views.MonitoringPage{
		Layout:     a.layout("Monitoring", "monitoring", views.ServedLinks),
		AlertRules: views.AlertRules{Path: alertRulesPath, URL: a.opts.AlertRulesURL},
	}
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	var (
		d                *modelapi.Drift
		p                *modelapi.Performance
		sh               *modelapi.Shadow
		dErr, pErr, sErr error
		wg               sync.WaitGroup
	)
	wg.Go(func() { d, dErr = a.api.Drift(ctx) })
	wg.Go(func() { p, pErr = a.api.Performance(ctx, "") })
	wg.Go(func() { sh, sErr = a.api.Shadow(ctx) })
	wg.Wait()
	now := time.Now()

	var shadowErr error
	v.Shadow, shadowErr = a.shadow(c, sh, sErr, now)
	if shadowErr != nil {
		// The section says the chart is missing; the table is complete.
		a.log.Error("shadow chart failed", zap.String("request_id", service.RequestID(c)), zap.String("model_version", sh.Champion), zap.Error(shadowErr))
	}

	var perfErr error
	v.Performance, perfErr = a.performance(c, p, pErr)
	if perfErr != nil {
		// The section says which chart is missing; the table is complete.
		a.log.Error("performance chart failed", zap.String("request_id", service.RequestID(c)), zap.String("model_version", p.Version), zap.Error(perfErr))
	}
	switch {
	case dErr != nil && notFound(dErr):
		a.modelFailure(c, "drift", dErr)
		// A model service older than drift tracking, as during a rolling
		// update: nothing is wrong, there is just no report.
		d = &modelapi.Drift{Reason: "the model service has no /monitoring/drift: it predates drift tracking"}
	case dErr != nil:
		status, n := a.modelFailure(c, "drift", dErr)
		if status == http.StatusServiceUnavailable {
			n.Text = "The model API is not answering, so there is no drift report to show. This page works again as soon as it is back."
		}
		v.DriftError = n
		if pErr == nil || notFound(pErr) {
			return render(c, http.StatusOK, views.MonitoringView(v))
		}
		// Neither call answered: the page is the error, and shows no
		// other part.
		v.Shadow = views.Shadow{}
		if status == http.StatusServiceUnavailable && unavailable(pErr) {
			n.Text = "The model API is not answering, so there is no drift report or model performance to show. This page works again as soon as it is back."
			v.Unavailable, v.DriftError = n, nil
		}
		return render(c, status, views.MonitoringView(v))
	}
	var chartErr error
	v, chartErr = driftView(v, d, now)
	if chartErr != nil {
		// The page says which chart is missing; the table is complete.
		a.log.Error("drift chart failed", zap.String("request_id", service.RequestID(c)), zap.String("model_version", d.Version), zap.Error(chartErr))
	}
	return render(c, http.StatusOK, views.MonitoringView(v))
}

// notFound reports whether the model API answered 404: the route is
// missing, from a model service older than it.
func notFound(err error) bool {
	apiErr, ok := errors.AsType[*modelapi.APIError](err)
	return ok && apiErr.Status == http.StatusNotFound
}

// driftView fills the Monitoring page from the drift report d, asked for
// at now. It returns the errors of the charts it could not draw; the page
// says which.
func driftView(v views.MonitoringPage, d *modelapi.Drift, now time.Time) (views.MonitoringPage, error) {
	v.Version, v.AsOf = d.Version, now.UTC().Format("15:04:05 UTC")
	if !d.Available {
		v.Summary = views.Notice{Kind: "warning", Title: "Drift is not tracked", Text: "The model service's reason: " + d.Reason + "."}
		return v, nil
	}
	v.Tracked = true
	t := d.Thresholds
	v.Thresholds = fmt.Sprintf("A feature is ok below a PSI of %s, warn from %s and alert from %s; with fewer than %d records in the window there is not enough data.",
		fmtLevel(t.Warn), fmtLevel(t.Warn), fmtLevel(t.Alert), t.MinRecords)
	w := d.Window
	v.Window = views.DriftWindow{
		Records: fmt.Sprint(w.Records), Size: fmt.Sprint(w.Size),
		ResetAt: fmtWhen(w.ResetAt, now), ResetReason: w.ResetReason,
	}
	if w.Records > 0 && w.Oldest != nil && w.Newest != nil {
		v.Window.Oldest, v.Window.Newest = fmtWhen(*w.Oldest, now), fmtWhen(*w.Newest, now)
	}

	var errs []error
	recent := fmt.Sprintf("Last %d records", w.Records)
	if w.Records == 0 {
		recent = "No records yet"
	}
	byStatus := map[string][]string{}
	for _, f := range d.Features {
		fv := views.FeatureDrift{ID: f.Feature, Name: featureName(f.Feature), Status: f.Status, StatusLabel: statusLabel(f.Status), PSI: "–"}
		if f.PSI != nil {
			fv.PSI = fmtPSI(*f.PSI)
		}
		shares := make([]charts.Share, len(f.Bins))
		for i, b := range f.Bins {
			shares[i] = charts.Share{Label: b.Label, Reference: b.Reference, Current: b.Current}
			fv.Bins = append(fv.Bins, views.DriftBin{Label: b.Label, Reference: fmtPct(b.Reference), Current: fmtPct(b.Current)})
		}
		svg, err := charts.Shares(fv.Name+": training data and recent records", fv.Name, "Training data", recent, shares)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Feature, err))
			fv.ChartError = "The chart could not be drawn from the model service's answer; the table below has the shares it sent."
		} else {
			fv.SVG = inlineSVG(svg)
		}
		v.Features = append(v.Features, fv)
		byStatus[f.Status] = append(byStatus[f.Status], fv.Name)
	}

	switch {
	case w.Records < t.MinRecords || len(byStatus[modelapi.DriftInsufficient]) > 0:
		v.Summary = views.Notice{Kind: "info", Title: "Not enough traffic yet",
			Text: fmt.Sprintf("The window holds %d records; the model service judges drift from %d on. Until then there is no PSI to show.", w.Records, t.MinRecords)}
	case len(byStatus[modelapi.DriftAlert]) > 0:
		v.Summary = views.Notice{Kind: "error", Title: "Input drift",
			Text: fmt.Sprintf("Recent records differ markedly from the training data (PSI from %s) in: %s.", fmtLevel(t.Alert), strings.Join(byStatus[modelapi.DriftAlert], ", "))}
	case len(byStatus[modelapi.DriftWarn]) > 0:
		v.Summary = views.Notice{Kind: "warning", Title: "Some drift",
			Text: fmt.Sprintf("Recent records differ somewhat from the training data (PSI from %s) in: %s.", fmtLevel(t.Warn), strings.Join(byStatus[modelapi.DriftWarn], ", "))}
	case len(d.Features) == 0:
		v.Summary = views.Notice{Kind: "warning", Title: "No features", Text: "The model service tracks drift but reported no features."}
	default:
		v.Summary = views.Notice{Kind: "ok", Title: "No drift",
			Text: fmt.Sprintf("Recent records look like the training data: every PSI is below %s.", fmtLevel(t.Warn))}
	}
	return v, errors.Join(errs...)
}

// inlineSVG is a chart as an element to put in a page: the SVG without the
// XML declaration and comment that precede it in a file.
func inlineSVG(svg []byte) string {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	return string(svg)
}

// featureName names the model API's features for people; a feature this
// frontend does not know keeps its own name.
func featureName(feature string) string {
	switch feature {
	case "bill_length_mm":
		return "Bill length (mm)"
	case "species":
		return "Species"
	case "sex":
		return "Sex"
	case "prediction":
		return "Predicted body mass (g)"
	}
	return feature
}

func statusLabel(status string) string {
	switch status {
	case modelapi.DriftOK:
		return "OK"
	case modelapi.DriftWarn:
		return "Warn"
	case modelapi.DriftAlert:
		return "Alert"
	case modelapi.DriftInsufficient:
		return "Not enough data"
	}
	return status
}

// fmtPSI shows three decimals, and a small positive PSI as such rather than
// as zero.
func fmtPSI(psi float64) string {
	if psi > 0 && psi < 0.0005 {
		return "< 0.001"
	}
	return fmt.Sprintf("%.3f", psi)
}

// fmtLevel shows a threshold as it is set: 0.1, 0.25.
func fmtLevel(psi float64) string { return strconv.FormatFloat(psi, 'f', -1, 64) }

func fmtPct(share float64) string { return fmt.Sprintf("%.1f", 100*share) }

// fmtWhen is a time and how long before now it was: "2026-12-01 04:35:54
// UTC (3 min ago)". Clocks of two machines may disagree by a little; a
// time after now reads "just now".
func fmtWhen(t, now time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago(now.Sub(t)) + ")"
}

func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days ago", int(math.Floor(d.Hours()/24)))
}
