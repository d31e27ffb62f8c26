package main

import (
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// TestTargetFollowsAliasResolver: with MODEL_ALIAS the target goes through
// resolveAlias (where massmodel.Store.Alias plugs in), naming the alias in
// its errors; without it, the target is the newest version.
func TestTargetFollowsAliasResolver(t *testing.T) {
	store := t.TempDir()
	newest := trainInto(t, store)
	s := massmodel.Store{Dir: store}
	if v, err := (Config{Store: store}).target(s)(); err != nil || v != newest {
		t.Errorf("newest target %q, %v; want %s", v, err, newest)
	}
	if _, err := (Config{Store: store, Alias: "champion"}).target(s)(); err == nil || !strings.Contains(err.Error(), `alias "champion"`) {
		t.Errorf("alias target before aliases exist: %v", err)
	}
	defer func(f func(massmodel.Store, string, string) (string, error)) { resolveAlias = f }(resolveAlias)
	resolveAlias = func(got massmodel.Store, name, alias string) (string, error) {
		if got != s || name != massmodel.Name || alias != "champion" {
			t.Errorf("resolveAlias(%v, %q, %q)", got, name, alias)
		}
		return "20260101T120000Z-0123456789ab", nil
	}
	if v, err := (Config{Store: store, Alias: "champion"}).target(s)(); err != nil || v != "20260101T120000Z-0123456789ab" {
		t.Errorf("alias target %q, %v", v, err)
	}
}
