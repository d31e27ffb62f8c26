package web

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// pinHint is how to pin metrics, for the page to show while none are.
const pinHint = "model-service evaluate -store D -data FILE.csv -date-column year -period year"

// performance is the Monitoring page's ground-truth section from the
// performance call's answer p, or its error err. It logs a failed call;
// the error it returns is the charts' it could not draw.
func (a *App) performance(c echo.Context, p *modelapi.Performance, err error) (views.Performance, error) {
	switch {
	case err != nil && notFound(err):
		// A model service older than the endpoint: nothing is wrong, there
		// is just no ground truth to show.
		a.log.Debug("model API has no performance", zap.String("request_id", service.RequestID(c)), zap.Error(err))
		return views.Performance{Notice: &views.Notice{Kind: "info", Title: "No ground truth yet",
			Text: "The model service has no /monitoring/performance: it predates ground-truth evaluation."}}, nil
	case err != nil:
		return views.Performance{Notice: a.failedNotice(c, "performance", err, "Model performance unavailable",
			"The model service failed to report its performance; try again later.",
			"The model API is not answering, so there is no model performance to show. This section works again as soon as it is back.")}, nil
	}
	return performanceView(p)
}

// metricSpec is how the page shows one of the model API's metrics.
type metricSpec struct {
	id, name, axis string
	format         func(float64) string
	reference      func(*modelapi.PerformanceReference) float64 // nil: the reference line is at zero
}

// metricSpecs are the metrics in the order the page shows them.
var metricSpecs = []metricSpec{
	{modelapi.MetricRMSE, "RMSE", "RMSE (g)", fmtMetricGrams, func(r *modelapi.PerformanceReference) float64 { return r.RMSE }},
	{modelapi.MetricMAE, "MAE", "MAE (g)", fmtMetricGrams, func(r *modelapi.PerformanceReference) float64 { return r.MAE }},
	{modelapi.MetricRSQ, "R²", "R²", fmtRSQ, func(r *modelapi.PerformanceReference) float64 { return r.RSQ }},
	// A least-squares fit with an intercept has no bias on its training
	// data: the line is at zero, whether or not the reference came.
	{modelapi.MetricBias, "Bias", "Bias, observed − predicted (g)", fmtMetricGrams, nil},
}

// performanceView lays out p's metrics: a chart per metric and a table by
// period, oldest first, with the training data's metrics as the reference.
// It returns the errors of the charts it could not draw; the section says
// which.
func performanceView(p *modelapi.Performance) (views.Performance, error) {
	v := views.Performance{Version: p.Version}
	if len(p.Metrics) == 0 {
		v.Notice = &views.Notice{Kind: "info", Title: "No ground truth yet",
			Text: "Nothing is pinned for version " + p.Version + ": no labelled observations have been scored against it."}
		v.PinHint = pinHint
		return v, nil
	}

	// Long to wide: one row per period, in date order (YYYY-MM-DD sorts as
	// text).
	type period struct {
		start, kind string
		n           int
		values      map[string]float64
	}
	byStart := map[string]*period{}
	var starts []string
	for _, m := range p.Metrics {
		pr, ok := byStart[m.PeriodStart]
		if !ok {
			pr = &period{start: m.PeriodStart, kind: m.Period, n: m.N, values: map[string]float64{}}
			byStart[m.PeriodStart] = pr
			starts = append(starts, m.PeriodStart)
		}
		pr.n = max(pr.n, m.N)
		pr.values[m.Metric] = m.Estimate
	}
	slices.Sort(starts)
	v.Period = byStart[starts[0]].kind
	for _, s := range starts {
		if byStart[s].kind != v.Period {
			v.Period = "period" // mixed kinds: name none
		}
	}

	cell := func(pr *period, spec metricSpec) string {
		if x, ok := pr.values[spec.id]; ok {
			return spec.format(x)
		}
		return "–"
	}
	for _, s := range starts {
		pr := byStart[s]
		v.Rows = append(v.Rows, views.PerformanceRow{
			Period: periodLabel(pr.start, pr.kind), N: strconv.Itoa(pr.n),
			RMSE: cell(pr, metricSpecs[0]), MAE: cell(pr, metricSpecs[1]), RSQ: cell(pr, metricSpecs[2]), Bias: cell(pr, metricSpecs[3]),
		})
	}
	if r := p.Reference; r != nil {
		v.Reference = &views.PerformanceRow{Period: "Training data", N: strconv.Itoa(r.N),
			RMSE: fmtMetricGrams(r.RMSE), MAE: fmtMetricGrams(r.MAE), RSQ: fmtRSQ(r.RSQ), Bias: fmtMetricGrams(r.Bias)}
	}

	var errs []error
	for _, spec := range metricSpecs {
		var values []charts.PeriodValue
		for _, s := range starts {
			pr := byStart[s]
			if x, ok := pr.values[spec.id]; ok {
				values = append(values, charts.PeriodValue{Label: periodLabel(pr.start, pr.kind), N: pr.n, Value: x})
			}
		}
		if len(values) == 0 {
			continue // a metric the model service does not compute
		}
		var ref *charts.Reference
		switch {
		case spec.reference == nil:
			ref = &charts.Reference{Name: "No bias (0)"}
		case p.Reference != nil:
			ref = &charts.Reference{Name: fmt.Sprintf("Training data (n=%d)", p.Reference.N), Value: spec.reference(p.Reference)}
		}
		mc := views.MetricChart{ID: spec.id, Name: spec.name}
		svg, err := charts.Periods(spec.name+" by "+v.Period, spec.axis, values, ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", spec.id, err))
			mc.ChartError = "The chart could not be drawn from the model service's answer; the table below has the numbers it sent."
		} else {
			mc.SVG = inlineSVG(svg)
		}
		v.Charts = append(v.Charts, mc)
	}
	return v, errors.Join(errs...)
}

// periodLabel names a period by its start for people: 2007 for a year,
// 2007 Q2 for a quarter, 2007-04 for a month, the date for a week or a
// day. A start that is not a date is shown as sent.
func periodLabel(start, kind string) string {
	t, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return start
	}
	switch kind {
	case "year":
		return t.Format("2006")
	case "quarter":
		return fmt.Sprintf("%d Q%d", t.Year(), (int(t.Month())-1)/3+1)
	case "month":
		return t.Format("2006-01")
	}
	return start
}

// fmtMetricGrams shows a metric in grams with one decimal, and a tiny
// negative one as 0.0 rather than -0.0.
func fmtMetricGrams(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	if s == "-0.0" {
		return "0.0"
	}
	return s
}

func fmtRSQ(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
