package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

func (a *App) overview(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), min(overviewBudget, a.opts.ModelBudget))
	defer cancel()
	md, err := a.api.Metadata(ctx)
	if err != nil {
		a.modelFailure(c, "metadata", err)
	} else {
		a.served.note(md.Version)
	}
	return render(c, http.StatusOK, views.OverviewView(a.overviewView(md, err, views.ServedLinks)))
}

// overviewView is the home page for metadata md (nil when the call failed
// with err). The page is data-only at heart, so it renders either way.
func (a *App) overviewView(md *modelapi.Metadata, err error, links views.Links) views.Overview {
	v := views.Overview{
		Layout: a.layout("Overview", "home", links), Rows: a.explore.Rows, Complete: a.explore.Complete,
		ModelAPIURL: a.opts.ModelURL,
	}
	if err != nil {
		v.Status = views.Notice{Kind: "error", Title: "Model service unavailable", Text: "The model API is not answering; predictions are paused. The data pages work as usual."}
		return v
	}
	v.Status = views.Notice{Kind: "ok", Title: "Model service ready", Text: "Serving version " + md.Version + "."}
	if !links.Live {
		v.Status = views.Notice{Kind: "ok", Title: "Served model when this site was exported",
			Text: "Version " + md.Version + ", as of " + time.Now().UTC().Format("2006-01-02 15:04 UTC") + ". This static copy does not update."}
	}
	v.Model = views.ModelSummary{
		Available: true, Version: md.Version, Formula: md.Formula,
		R2: fmt.Sprintf("%.3f", md.Metrics.R2), AdjR2: fmt.Sprintf("%.3f", md.Metrics.AdjR2),
		RMSE: fmt.Sprintf("%.1f", md.Metrics.RMSE), N: fmt.Sprint(md.Metrics.N),
		Created: md.Created.UTC().Format("2006-01-02 15:04 UTC"),
	}
	return v
}

func (a *App) exploreView(links views.Links) views.Explore {
	v := a.explore
	v.Layout = a.layout("Explore", "explore", links)
	v.Scatter.Src = links.Charts + v.Scatter.Src
	v.Distribution.Src = links.Charts + v.Distribution.Src
	return v
}

func (a *App) explorePage(c echo.Context) error {
	return render(c, http.StatusOK, views.ExploreView(a.exploreView(views.ServedLinks)))
}

func (a *App) model(c echo.Context) error {
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	md, err := a.api.Metadata(ctx)
	if err != nil {
		status, n := a.modelFailure(c, "metadata", err)
		n.Text = "The model API is not answering, so there is no served model to show. This page works again as soon as it is back."
		v := views.ModelPage{Layout: a.layout("Model", "model", views.ServedLinks), Unavailable: n}
		return render(c, status, views.ModelView(v))
	}
	a.served.note(md.Version)
	v, _, err := a.modelPage(ctx, md, views.ServedLinks)
	if err != nil {
		a.modelFailure(c, "diagnostics", err) // logs it; the page says the plots are missing
	}
	return render(c, http.StatusOK, views.ModelView(v))
}

func (a *App) status(c echo.Context) error {
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	v := views.StatusPage{Layout: a.layout("Status", "status", views.ServedLinks), ModelURL: a.opts.ModelURL, ModelVersion: "unknown"}
	// The aliases have their own section: their call failing, or missing
	// from an older model service, costs only that section.
	var (
		h          *modelapi.Health
		al         *modelapi.Aliases
		err, alErr error
		wg         sync.WaitGroup
	)
	wg.Go(func() { h, err = a.api.Ready(ctx) })
	wg.Go(func() { al, alErr = a.api.Aliases(ctx) })
	wg.Wait()
	switch {
	case err == nil:
		v.ModelStatus = views.Notice{Kind: "ok", Title: "Ready", Text: "The model service has a verified model loaded."}
		v.ModelVersion = h.Version
		a.served.note(h.Version)
	case h != nil:
		v.ModelStatus = views.Notice{Kind: "warning", Title: "Not ready: " + h.Status, Text: h.Reason}
	default:
		a.modelFailure(c, "ready", err) // logs the details
		v.ModelStatus = views.Notice{Kind: "error", Title: "Unavailable", Text: "The model API is not answering; the frontend's logs have the details."}
	}
	if modelapi.AuthFailed(alErr) {
		// /readyz is open, so "ready" says nothing about the key; the
		// aliases need the read scope.
		_, n := a.modelFailure(c, "aliases", alErr)
		v.ModelStatus = *n
	}
	v.Aliases = a.aliasesSection(c, al, alErr, v.ModelVersion)
	calls := a.calls.Recent()
	for _, s := range calls {
		row := views.CallRow{At: s.At.UTC().Format("15:04:05.000"), Op: s.Op, Status: fmt.Sprint(s.Status),
			Duration: fmtDuration(s.Duration), Attempts: fmt.Sprint(s.Attempts)}
		row.Error = callOutcome(s.Err)
		v.Calls = append(v.Calls, row)
	}
	v.P50, v.P95 = fmtDuration(percentile(calls, 50)), fmtDuration(percentile(calls, 95))
	b := a.opts.Build
	v.Build = []views.KV{{Key: "Version", Value: b.Version}, {Key: "Commit", Value: b.Commit}, {Key: "Go", Value: b.GoVersion}, {Key: "Module", Value: b.Module}}
	for _, dep := range b.DepNames() {
		v.Build = append(v.Build, views.KV{Key: dep, Value: b.Deps[dep]})
	}
	return render(c, http.StatusOK, views.StatusView(v))
}

// callOutcome says in words how a call to the model API failed, for the
// Status page. The error itself (addresses, Go's wording, the model
// service's body) goes to the logs only.
func callOutcome(err error) string {
	if err == nil {
		return ""
	}
	if apiErr, ok := errors.AsType[*modelapi.APIError](err); ok {
		return fmt.Sprintf("answered %d %s", apiErr.Status, http.StatusText(apiErr.Status))
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "abandoned: the request it was for ended first"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within the time allowed"
	case modelapi.Unavailable(err):
		return "no answer: the model service could not be reached"
	}
	return "the answer could not be used; the frontend's logs have the details"
}

func fmtDuration(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
