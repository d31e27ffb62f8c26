package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/palmerops/penguins/pkg/modelapi"
)

const (
	olderVersion = "20261120T080000Z-aaaaaaaaaaaa"
	otherVersion = "20261125T080000Z-cccccccccccc"
)

// promoted is a store where champion was promoted to olderVersion, then
// served (forced past the metric gate), rolled back and promoted again, and
// challenger points at otherVersion: oldest first, as the model API sends it.
func promoted(served string) *modelapi.Aliases {
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	return &modelapi.Aliases{
		Aliases: map[string]string{"champion": served, "challenger": otherVersion},
		History: []modelapi.Promotion{
			{Time: at, Alias: "champion", To: olderVersion, Actor: "ana", Reason: "first release"},
			{Time: at.Add(time.Hour), Alias: "champion", From: olderVersion, To: served, Actor: "ana", Reason: "2008 within noise", Forced: true},
			{Time: at.Add(2 * time.Hour), Alias: "champion", From: served, To: olderVersion, Actor: "bo", Reason: "pager", Rollback: true},
			{Time: at.Add(3 * time.Hour), Alias: "champion", From: olderVersion, To: served, Actor: "ana", Reason: "fixed upstream"},
			{Time: at.Add(4 * time.Hour), Alias: "challenger", To: otherVersion, Actor: "ci", Reason: "nightly"},
		},
	}
}

func cells(s *goquery.Selection) []string {
	var out []string
	s.Find("td").Each(func(_ int, td *goquery.Selection) { out = append(out, strings.TrimSpace(td.Text())) })
	return out
}

func TestStatusPageShowsAliasesAndHistory(t *testing.T) {
	api, art := upAPI(t)
	ts := newTestApp(t, api)
	resp, doc := get(t, ts, "/status")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rows := doc.Find("[data-testid=alias-row]")
	want := [][]string{{"challenger", otherVersion, ""}, {"champion", art.Version, "served now"}}
	if rows.Length() != len(want) {
		t.Fatalf("%d alias rows, want %d", rows.Length(), len(want))
	}
	rows.Each(func(i int, r *goquery.Selection) {
		if got := cells(r); fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("alias row %d = %q, want %q", i, got, want[i])
		}
	})

	hist := doc.Find("[data-testid=promotion-row]")
	wantHist := [][]string{
		{"2026-11-28 13:00:00", "challenger", "(new)", otherVersion, "ci", "nightly", ""},
		{"2026-11-28 12:00:00", "champion", olderVersion, art.Version, "ana", "fixed upstream", ""},
		{"2026-11-28 11:00:00", "champion", art.Version, olderVersion, "bo", "pager", "rollback"},
		{"2026-11-28 10:00:00", "champion", olderVersion, art.Version, "ana", "2008 within noise", "forced"},
		{"2026-11-28 09:00:00", "champion", "(new)", olderVersion, "ana", "first release", ""},
	}
	if hist.Length() != len(wantHist) {
		t.Fatalf("%d history rows, want %d", hist.Length(), len(wantHist))
	}
	hist.Each(func(i int, r *goquery.Selection) {
		if got := cells(r); fmt.Sprint(got) != fmt.Sprint(wantHist[i]) {
			t.Errorf("history row %d = %q, want %q", i, got, wantHist[i])
		}
	})
	if doc.Find("[data-testid=aliases-empty], [data-testid=aliases-error]").Length() != 0 {
		t.Error("empty or error state shown alongside the aliases")
	}
}

func TestStatusPageShowsOnlyTheLatestPromotions(t *testing.T) {
	api, art := upAPI(t)
	long := &modelapi.Aliases{Aliases: map[string]string{"champion": art.Version}}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range historyShown + 5 {
		long.History = append(long.History, modelapi.Promotion{Time: at.Add(time.Duration(i) * time.Minute), Alias: "champion", To: art.Version, Reason: fmt.Sprint("change ", i)})
	}
	api.aliases = func(context.Context) (*modelapi.Aliases, error) { return long, nil }
	_, doc := get(t, newTestApp(t, api), "/status")
	hist := doc.Find("[data-testid=promotion-row]")
	if hist.Length() != historyShown {
		t.Fatalf("%d history rows, want %d", hist.Length(), historyShown)
	}
	if first, last := cells(hist.First())[5], cells(hist.Last())[5]; first != "change 24" || last != "change 5" {
		t.Errorf("history runs from %q to %q, want change 24 down to change 5", first, last)
	}
	if got := doc.Find("[data-testid=aliases]").Text(); !strings.Contains(got, "The last 20 of 25 changes") {
		t.Errorf("section does not say it is cut: %q", got)
	}
}

func TestStatusPageWithoutAliases(t *testing.T) {
	api, art := upAPI(t)
	// What a model service without a store sends, and one whose store has
	// had nothing promoted: the two look alike on the wire.
	api.aliases = func(context.Context) (*modelapi.Aliases, error) {
		return &modelapi.Aliases{Aliases: map[string]string{}, History: []modelapi.Promotion{}}, nil
	}
	resp, doc := get(t, newTestApp(t, api), "/status")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	empty := doc.Find("[data-testid=aliases-empty]").Text()
	for _, want := range []string{"No aliases yet", "without a model store", "model-service promote"} {
		if !strings.Contains(empty, want) {
			t.Errorf("empty state %q lacks %q", empty, want)
		}
	}
	if doc.Find("[data-testid=aliases-table], [data-testid=promotions-table]").Length() != 0 {
		t.Error("tables shown without aliases")
	}
	if got := doc.Find("[data-testid=status-model-version]").Text(); got != art.Version {
		t.Errorf("model version %q", got)
	}
}

func TestStatusPageWhenAliasesFail(t *testing.T) {
	for name, tc := range map[string]struct {
		err   error
		title string
	}{
		"down":  {errDown, "Aliases unavailable"},
		"error": {&modelapi.APIError{Op: "aliases", Status: http.StatusInternalServerError, Body: "alias file corrupt"}, "Aliases unavailable"},
		// A model service older than /aliases.
		"404": {&modelapi.APIError{Op: "aliases", Status: http.StatusNotFound, Body: "Not Found"}, "Aliases not available"},
	} {
		t.Run(name, func(t *testing.T) {
			api, art := upAPI(t)
			api.aliases = func(context.Context) (*modelapi.Aliases, error) { return nil, tc.err }
			resp, doc := get(t, newTestApp(t, api), "/status")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: the rest of the page does not depend on aliases", resp.StatusCode)
			}
			if got := doc.Find("[data-testid=aliases-error]").Text(); !strings.Contains(got, tc.title) {
				t.Errorf("aliases section %q lacks %q", got, tc.title)
			}
			if strings.Contains(doc.Text(), "alias file corrupt") {
				t.Error("the model API's error body reached the page")
			}
			if got := doc.Find("[data-testid=status-model-version]").Text(); got != art.Version {
				t.Errorf("model version %q: the rest of the page did not render", got)
			}
			if doc.Find("[data-testid=build]").Length() != 1 || doc.Find("[data-testid=alias-row]").Length() != 0 {
				t.Error("build section missing, or alias rows shown after a failure")
			}
		})
	}
}
