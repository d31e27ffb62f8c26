package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// aliasedStore is a served store whose champion was promoted, moved to the
// older version, and whose challenger points at the newer one.
func aliasedStore(t *testing.T, ck *checker) *storeFixture {
	t.Helper()
	f := newStoreFixture(t, ck)
	opt := massmodel.PromoteOptions{Actor: "alice", Reason: "first", MaxRegression: massmodel.DefaultMaxRegression}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []struct{ alias, version string }{
		{massmodel.Champion, f.art.Version}, {massmodel.Champion, f.older}, {"challenger", f.art.Version},
	} {
		if _, err := f.store.Promote(massmodel.Name, p.alias, p.version, opt, now); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func getAliases(t *testing.T, ts *httptest.Server) (int, modelapi.Aliases) {
	t.Helper()
	resp, err := http.Get(ts.URL + "/aliases")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out modelapi.Aliases
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

func TestAliasesEndpoint(t *testing.T) {
	ck := newChecker(t)
	f := aliasedStore(t, ck)
	code, got := getAliases(t, f.ts)
	if code != 200 || got.Aliases[massmodel.Champion] != f.older || got.Aliases["challenger"] != f.art.Version || len(got.Aliases) != 2 {
		t.Fatalf("%d %+v", code, got)
	}
	if len(got.History) != 3 || got.History[1].From != f.art.Version || got.History[1].To != f.older || got.History[1].Actor != "alice" {
		t.Errorf("history %+v", got.History)
	}
	// A promotion shows at once; a corrupt alias file is a 500, not "none".
	if _, err := f.store.Rollback(massmodel.Name, massmodel.Champion, massmodel.PromoteOptions{Actor: "bob"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, got = getAliases(t, f.ts); got.Aliases[massmodel.Champion] != f.art.Version || !got.History[3].Rollback {
		t.Errorf("after rollback: %+v", got)
	}
	corruptAliases(t, f)
	if code, _ := getAliases(t, f.ts); code != 500 {
		t.Errorf("corrupt alias file: %d", code)
	}
	// Without a store: empty, not an error.
	plain := newCheckedFixture(t, testLimits, ck)
	if code, got := getAliases(t, plain.ts); code != 200 || got.Aliases == nil || got.History == nil || len(got.Aliases)+len(got.History) != 0 {
		t.Errorf("no store: %d %+v", code, got)
	}
}

func corruptAliases(t *testing.T, f *storeFixture) {
	t.Helper()
	path := filepath.Join(f.store.Dir, massmodel.Name, massmodel.AliasesFile)
	if err := os.WriteFile(path, []byte(`{"name": "penguin_model", "aliases": {`), 0o644); err != nil {
		t.Fatal(err)
	}
}
