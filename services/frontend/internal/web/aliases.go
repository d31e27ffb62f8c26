package web

import (
	"maps"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// historyShown is how many promotions the Status page lists.
const historyShown = 20

// promoteCommand is how to promote a version, shown while nothing is.
const promoteCommand = "model-service promote -store STORE -alias champion VERSION -reason …"

// aliasesSection is the Status page's view of the model store's aliases:
// al from GET /aliases (nil when the call failed with err), served the
// version the model service serves ("unknown" when it did not say).
func (a *App) aliasesSection(c echo.Context, al *modelapi.Aliases, err error, served string) views.AliasesSection {
	switch {
	case err != nil && notFound(err):
		a.modelFailure(c, "aliases", err)
		// A model service older than /aliases, as during a rolling update.
		return views.AliasesSection{Error: &views.Notice{Kind: "info", Title: "Aliases not available",
			Text: "The model service has no /aliases: it predates aliases. The rest of this page is unaffected."}}
	case modelapi.AuthFailed(err):
		return views.AliasesSection{Error: &views.Notice{Kind: "error", Title: "Aliases unavailable",
			Text: "The model API refuses the frontend's API key; see the model service's status above."}}
	case err != nil:
		return views.AliasesSection{Error: a.failedNotice(c, "aliases", err, "Aliases unavailable",
			"The model API answered the aliases request with an error; the frontend's logs have the details.",
			"The model API did not answer the aliases request, so they are not shown. Reload to try again.")}
	}
	return aliasesView(al, served)
}

// aliasesView maps the wire aliases onto the page: aliases by name, the
// last historyShown promotions newest first.
func aliasesView(al *modelapi.Aliases, served string) views.AliasesSection {
	if len(al.Aliases) == 0 && len(al.History) == 0 {
		return views.AliasesSection{Empty: true, Promote: promoteCommand}
	}
	v := views.AliasesSection{Total: len(al.History)}
	for _, name := range slices.Sorted(maps.Keys(al.Aliases)) {
		to := al.Aliases[name]
		v.Aliases = append(v.Aliases, views.AliasRow{Name: name, Version: to, Served: to == served})
	}
	// The history comes oldest first; the service appends, so its order is
	// the order of the changes even when two share a timestamp.
	for i := len(al.History) - 1; i >= 0 && len(v.History) < historyShown; i-- {
		p := al.History[i]
		row := views.Promotion{
			Time: p.Time.UTC().Format("2006-01-02 15:04:05"), Alias: p.Alias, From: p.From, To: p.To,
			Actor: p.Actor, Reason: p.Reason,
		}
		if row.From == "" {
			row.From = "(new)"
		}
		if p.Forced {
			row.Flags = append(row.Flags, "forced")
		}
		if p.Rollback {
			row.Flags = append(row.Flags, "rollback")
		}
		v.History = append(v.History, row)
	}
	v.Shown = len(v.History)
	return v
}
