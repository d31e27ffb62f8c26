package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// shadowHint is how to turn shadow scoring on, for the page to show while
// it is off.
const shadowHint = "MODEL_SHADOW_ALIAS=challenger"

// shadow is the Monitoring page's champion-against-challenger section from
// the shadow call's answer sh, or its error err, asked for at now. It logs
// a failed call; the error it returns is the chart's, if it could not be
// drawn.
func (a *App) shadow(c echo.Context, sh *modelapi.Shadow, err error, now time.Time) (views.Shadow, error) {
	switch {
	case err != nil && notFound(err):
		// A model service older than shadow scoring: nothing is wrong.
		a.log.Debug("model API has no shadow report", zap.String("request_id", service.RequestID(c)), zap.Error(err))
		return views.Shadow{Notice: &views.Notice{Kind: "info", Title: "No shadow configured",
			Text: "The model service has no /monitoring/shadow: it predates shadow scoring."}}, nil
	case err != nil:
		return views.Shadow{Notice: a.failedNotice(c, "shadow", err, "Shadow scoring unavailable",
			"The model service failed to report its shadow scoring; try again later.",
			"The model API is not answering, so there is no comparison to show. This section works again as soon as it is back.")}, nil
	}
	return shadowView(sh, now)
}

// shadowView lays out the shadow report sh: the two versions, the counts,
// the differences and their distribution as a chart and a table.
func shadowView(sh *modelapi.Shadow, now time.Time) (views.Shadow, error) {
	v := views.Shadow{Status: sh.Status, Champion: sh.Champion}
	switch sh.Status {
	case modelapi.ShadowOff:
		v.Notice = &views.Notice{Kind: "info", Title: "No shadow configured",
			Text: "The served model is the only one scoring the live records; no challenger is compared with it."}
		v.Hint = shadowHint
		return v, nil
	case modelapi.ShadowUnavailable:
		v.Notice = &views.Notice{Kind: "warning", Title: "Shadow scoring unavailable",
			Text: fmt.Sprintf("The model service follows alias %q for a challenger but could not load one: %s. The served model is not affected.", sh.Alias, sh.Reason)}
		return v, nil
	case modelapi.ShadowOK:
	default:
		v.Notice = &views.Notice{Kind: "warning", Title: "Unknown shadow status",
			Text: fmt.Sprintf("The model service reported the status %q, which this page does not know.", sh.Status)}
		return v, nil
	}
	v.Alias, v.Challenger = sh.Alias, sh.Challenger
	// %g to four digits: 7%, not the 7.000000000000001% of 100 × 0.07.
	v.SampleRate = fmt.Sprintf("%.4g%%", 100*sh.SampleRate)
	v.Records, v.Scored, v.Dropped = fmtCount(sh.Records), fmtCount(sh.ScoredTotal), fmtCount(sh.DroppedTotal)
	if sh.First != nil && sh.Last != nil {
		v.First, v.Last = fmtWhen(*sh.First, now), fmtWhen(*sh.Last, now)
	}
	if sh.Records == 0 || sh.MeanDifference == nil || sh.MeanAbsDifference == nil || sh.MaxAbsDifference == nil {
		v.Notice = &views.Notice{Kind: "info", Title: "Nothing compared yet",
			Text: fmt.Sprintf("The challenger %s scores %s of the live records; none has been compared with %s yet.", sh.Challenger, v.SampleRate, sh.Champion)}
	} else {
		v.Compared = true
		v.MeanDifference = fmtSignedGrams(*sh.MeanDifference)
		v.MeanAbsDifference, v.MaxAbsDifference = fmtMetricGrams(*sh.MeanAbsDifference), fmtMetricGrams(*sh.MaxAbsDifference)
		for _, q := range sh.Quantiles {
			v.Quantiles = append(v.Quantiles, views.ShadowQuantile{Label: fmt.Sprintf("p%.4g", 100*q.Quantile), Value: fmtMetricGrams(q.Value)})
		}
	}
	if len(sh.Buckets) == 0 {
		return v, nil
	}
	counts := make([]charts.Count, len(sh.Buckets))
	var total uint64
	for _, b := range sh.Buckets {
		total += b.Count
	}
	for i, b := range sh.Buckets {
		label := bucketLabel(b, i == 0)
		counts[i] = charts.Count{Label: label, N: b.Count}
		share := "–"
		if total > 0 {
			share = fmtPct(float64(b.Count) / float64(total))
		}
		v.Buckets = append(v.Buckets, views.ShadowBucket{Label: label, Count: fmtCount(b.Count), Share: share})
	}
	svg, err := charts.Counts("|Champion − challenger| on live records", "|Difference| (g)", "Records", counts)
	if err != nil {
		v.ChartError = "The chart could not be drawn from the model service's answer; the table below has the counts it sent."
		return v, fmt.Errorf("shadow: %w", err)
	}
	v.SVG = inlineSVG(svg)
	return v, nil
}

// bucketLabel names a bucket of |difference| for people: "≤ 1" for the
// first, "1–2" for (1, 2], "> 1000" for the last.
func bucketLabel(b modelapi.ShadowBucket, first bool) string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	switch {
	case b.Upper == nil:
		return "> " + g(b.Lower)
	case first:
		return "≤ " + g(*b.Upper)
	}
	return g(b.Lower) + "–" + g(*b.Upper)
}

// fmtSignedGrams shows a difference with its sign: "+1.4", "−0.3", "0.0".
func fmtSignedGrams(x float64) string {
	s := fmtMetricGrams(x)
	switch {
	case s == "0.0":
		return s
	case x > 0:
		return "+" + s
	}
	return "−" + s[1:]
}

func fmtCount(n uint64) string { return strconv.FormatUint(n, 10) }
