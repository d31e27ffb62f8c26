package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

func TestEvaluateCommand(t *testing.T) {
	t.Setenv("MODEL_STORE", "")
	store := t.TempDir()
	a, _, err := massmodel.TrainToStore(context.Background(), penguins.Embedded{}, store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "penguins.csv")
	if err := os.WriteFile(data, penguins.EmbeddedCSV(), 0o644); err != nil {
		t.Fatal(err)
	}
	pinned := filepath.Join(store, massmodel.Name, a.Version, massmodel.MetricsFile)
	run := func(args ...string) (int, string) {
		var out, errs bytes.Buffer
		code := evaluateMain(args, &out, &errs)
		return code, out.String() + errs.String()
	}
	base := []string{"-store", store, "-data", data, "-date-column", "year"}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-store", store}, 2, "-data, -date-column, -period required"},
		{append(base, "-period", "decade"), 1, `unknown period "decade"`},
		{append(base, "-period", "year", "-version", "newest"), 1, `-version "newest"`},
		{append(base, "-period", "year", "-version", "20990101T000000Z-0123456789ab"), 1, "no such file"},
		{[]string{"-store", store, "-data", data, "-date-column", "date", "-period", "year"}, 1, `header lacks column(s) "date"`},
	} {
		code, out := run(c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
		if _, err := os.Stat(pinned); err == nil {
			t.Fatalf("%v pinned metrics", c.args)
		}
	}

	code, out := run(append(base, "-period", "year")...)
	if code != 0 || !strings.Contains(out, "scored 333 of 344 rows") || !strings.Contains(out, "2009-01-01    year  117    rmse") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, out = run(append(base, "-period", "year")...); code != 1 || !strings.Contains(out, "year 2007-01-01, year 2008-01-01, year 2009-01-01") {
		t.Errorf("again: exit %d:\n%s", code, out)
	}
	if code, out = run(append(base, "-period", "year", "-overwrite", "-version", a.Version)...); code != 0 || !strings.Contains(out, "(12 in all)") {
		t.Errorf("-overwrite: exit %d:\n%s", code, out)
	}

	// -alias scores the version the alias points to.
	if code, out = run(append(base, "-period", "year", "-alias", "champion")...); code != 1 || !strings.Contains(out, `alias "champion"`) {
		t.Errorf("unknown alias: exit %d:\n%s", code, out)
	}
	if _, err := (massmodel.Store{Dir: store}).Promote(massmodel.Name, "champion", a.Version, massmodel.PromoteOptions{Actor: "test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, out = run(append(base, "-period", "year", "-overwrite", "-alias", "champion")...); code != 0 || !strings.Contains(out, "version "+a.Version) {
		t.Errorf("-alias champion: exit %d:\n%s", code, out)
	}
	if code, out = run(append(base, "-period", "year", "-alias", "champion", "-version", a.Version)...); code != 1 || !strings.Contains(out, "both given") {
		t.Errorf("-alias and -version: exit %d:\n%s", code, out)
	}
}
