package massmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/penguins"
)

// releasedArtifact is a copy of the version released in deploy/models,
// written before artifacts stored their observations.
const releasedArtifact = "testdata/released-20261126T190011Z-43843ab108a1.json"

func loadReleased(t *testing.T) (*Artifact, *Model) {
	t.Helper()
	body, err := os.ReadFile(releasedArtifact)
	if err != nil {
		t.Fatal(err)
	}
	a, err := DecodeArtifact(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Verify()
	if err != nil {
		t.Fatalf("the released artifact no longer verifies: %v", err)
	}
	return a, m
}

// checkResiduals holds diagnostics to what OLS guarantees and to R: the
// residuals give R's RMSE, sum to zero and are orthogonal to every column
// of the design matrix; each residual is observed minus fitted, and each
// fitted value is what the model predicts.
func checkResiduals(t *testing.T, d *Diagnostics, m *Model) {
	t.Helper()
	if len(d.Rows) != 333 {
		t.Fatalf("%d rows, want 333", len(d.Rows))
	}
	var rss float64
	var xr [P]float64
	for i, r := range d.Rows {
		sp, _ := penguins.ParseSpecies(r.Species)
		sex, _ := penguins.ParseSex(r.Sex)
		in := Input{BillLengthMM: r.BillLengthMM, Species: sp, Sex: sex}
		if r.Fitted != m.Predict(in) || r.Residual != r.BodyMassG-r.Fitted {
			t.Fatalf("row %d: %+v, prediction %v", i, r, m.Predict(in))
		}
		rss += r.Residual * r.Residual
		for j, x := range Design(in) {
			xr[j] += x * r.Residual
		}
	}
	relClose(t, "RMSE of the residuals", math.Sqrt(rss/333), rReference.rmse, 1e-9)
	for j, v := range xr {
		if math.Abs(v) > 1e-6 {
			t.Errorf("residuals · column %s = %g, want 0", Terms[j], v)
		}
	}
}

func TestDiagnoseFromTheArtifact(t *testing.T) {
	a, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Observations) != 333 || a.Observations[0] != (Observation{BillLengthMM: 39.1, Species: "Adelie", Sex: "male", BodyMassG: 3750}) {
		t.Fatalf("observations: %d, first %+v", len(a.Observations), a.Observations[0])
	}
	// No data at hand: the artifact's own rows are enough.
	d, err := Diagnose(context.Background(), a, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.DataSource != "" {
		t.Errorf("rows from %q, want the artifact's own", d.DataSource)
	}
	checkResiduals(t, d, m)
	// The fit's own residuals, computed by training from its design matrix.
	f, _ := embeddedFit(t)
	for i, r := range d.Rows {
		if math.Abs(r.Residual-f.Residuals[i]) > 1e-9 {
			t.Fatalf("row %d: residual %v, training computed %v", i, r.Residual, f.Residuals[i])
		}
	}
}

func TestDiagnoseReleasedArtifact(t *testing.T) {
	a, m := loadReleased(t)
	if a.Observations != nil {
		t.Fatal("the released artifact has observations; this test needs one from before")
	}
	d, err := Diagnose(context.Background(), a, m, penguins.Embedded{})
	if err != nil {
		t.Fatal(err)
	}
	if d.DataSource != "embedded:penguins.csv" {
		t.Errorf("rows from %q", d.DataSource)
	}
	checkResiduals(t, d, m)

	// Without data, or with other data, there is nothing honest to show.
	if _, err := Diagnose(context.Background(), a, m, nil); !errors.Is(err, ErrNoDiagnostics) || !strings.Contains(err.Error(), "no data is at hand") {
		t.Errorf("no data: %v", err)
	}
	csv := penguins.EmbeddedCSV()
	other := filepath.Join(t.TempDir(), "other.csv")
	if err := os.WriteFile(other, bytes.Replace(csv, []byte("39.1,"), []byte("39.2,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Diagnose(context.Background(), a, m, penguins.CSVFile{Path: other})
	if !errors.Is(err, ErrNoDiagnostics) || !strings.Contains(err.Error(), "not on the data this service has, file:"+other) {
		t.Errorf("other data: %v", err)
	}
	_, err = Diagnose(context.Background(), a, m, penguins.CSVFile{Path: filepath.Join(t.TempDir(), "missing.csv")})
	if !errors.Is(err, ErrNoDiagnostics) || !strings.Contains(err.Error(), "reading file:") {
		t.Errorf("unreadable data: %v", err)
	}
}

// TestObservationsAreVerified: observations are covered by the content
// hash, and rows that are not the ones the model was fitted to are refused
// even with the hash recomputed.
func TestObservationsAreVerified(t *testing.T) {
	good, err := trained(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		edit   func(*Artifact)
		rehash bool
		want   string
	}{
		"edited":            {func(a *Artifact) { a.Observations[7].BodyMassG += 100 }, false, "content hash mismatch"},
		"edited, rehashed":  {func(a *Artifact) { a.Observations[7].BodyMassG += 100 }, true, "not the rows the model was fitted to"},
		"dropped, rehashed": {func(a *Artifact) { a.Observations = a.Observations[1:] }, true, "332 rows, but the model was fitted to 333"},
		"unknown species":   {func(a *Artifact) { a.Observations[0].Species = "Emperor" }, true, `row 0: unknown species "Emperor"`},
		"empty, rehashed":   {func(a *Artifact) { a.Observations = []Observation{} }, true, "0 rows"},
	} {
		t.Run(name, func(t *testing.T) {
			var a Artifact
			if err := json.Unmarshal(good, &a); err != nil {
				t.Fatal(err)
			}
			c.edit(&a)
			if c.rehash {
				a.ContentSHA256 = a.digest()
				a.Version = a.Version[:17] + a.ContentSHA256[:12]
			}
			if _, err := a.Verify(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}
