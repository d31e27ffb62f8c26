package massmodel

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

// TestProfileOfTheTrainingData checks a new artifact's profile against the
// raw rows, counted here independently: each decile edge splits the rows as
// a decile should, and every share is the count in its bin.
func TestProfileOfTheTrainingData(t *testing.T) {
	a, m, err := TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := a.Profile
	if p == nil {
		t.Fatal("a new artifact has no profile")
	}
	var bills, preds []float64
	species := map[string]int{}
	sexes := map[string]int{}
	for _, o := range a.Observations {
		in, err := parseInput(o.BillLengthMM, o.Species, o.Sex)
		if err != nil {
			t.Fatal(err)
		}
		bills, preds = append(bills, o.BillLengthMM), append(preds, m.Predict(in))
		species[o.Species]++
		sexes[o.Sex]++
	}
	n := float64(len(bills))
	for name, c := range map[string]struct {
		p  NumericProfile
		xs []float64
	}{"bill_length_mm": {p.BillLength, bills}, "prediction": {p.Prediction, preds}} {
		if len(c.p.Edges) != ProfileBins-1 {
			t.Errorf("%s: %d edges, want %d (the deciles)", name, len(c.p.Edges), ProfileBins-1)
		}
		for k, e := range c.p.Edges {
			below, atOrBelow := 0, 0
			for _, x := range c.xs {
				if x < e {
					below++
				}
				if x <= e {
					atOrBelow++
				}
			}
			q := float64(k+1) / ProfileBins
			// A decile has at most a share q of the rows below it and at
			// least q at or below it (type 7 interpolates within one step).
			if float64(below)/n > q+1/n || float64(atOrBelow)/n < q-1/n {
				t.Errorf("%s edge %d = %v: %d rows below, %d at or below, of %v", name, k, e, below, atOrBelow, n)
			}
		}
		for b, share := range c.p.Shares {
			count := 0
			for _, x := range c.xs {
				lo, hi := math.Inf(-1), math.Inf(1)
				if b > 0 {
					lo = c.p.Edges[b-1]
				}
				if b < len(c.p.Edges) {
					hi = c.p.Edges[b]
				}
				if x >= lo && x < hi {
					count++
				}
			}
			if math.Abs(share-float64(count)/n) > 1e-12 {
				t.Errorf("%s bin %d: share %v, counted %d of %v", name, b, share, count, n)
			}
		}
	}
	for i, level := range p.Species.Levels {
		if math.Abs(p.Species.Shares[i]-float64(species[level])/n) > 1e-12 {
			t.Errorf("species %s: share %v, counted %d", level, p.Species.Shares[i], species[level])
		}
	}
	for i, level := range p.Sex.Levels {
		if math.Abs(p.Sex.Shares[i]-float64(sexes[level])/n) > 1e-12 {
			t.Errorf("sex %s: share %v, counted %d", level, p.Sex.Shares[i], sexes[level])
		}
	}
	// The training species shares, as the data's README states them
	// (146 Adelie, 68 Chinstrap, 119 Gentoo complete cases).
	if species["Adelie"] != 146 || species["Chinstrap"] != 68 || species["Gentoo"] != 119 {
		t.Errorf("species counts %v", species)
	}
}

// TestProfileIsVerified: the profile is covered by the content hash, and a
// profile that is not the training rows' own is refused even with the hash
// recomputed.
func TestProfileIsVerified(t *testing.T) {
	a, _, err := TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*Profile), rehash bool) error {
		b := *a
		p := *a.Profile
		p.Species.Shares = append([]float64(nil), a.Profile.Species.Shares...)
		p.BillLength.Edges = append([]float64(nil), a.Profile.BillLength.Edges...)
		b.Profile = &p
		f(&p)
		if rehash {
			b.ContentSHA256 = b.digest()
			b.Version = b.Created.Format("20060102T150405Z") + "-" + b.ContentSHA256[:12]
		}
		_, err := b.Verify()
		return err
	}
	swap := func(p *Profile) { p.Species.Shares[0], p.Species.Shares[1] = p.Species.Shares[1], p.Species.Shares[0] }
	if err := edit(swap, false); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Errorf("edited profile: %v", err)
	}
	if err := edit(swap, true); err == nil || !strings.Contains(err.Error(), "does not match its training rows") {
		t.Errorf("edited profile, hash recomputed: %v", err)
	}
	if err := edit(func(p *Profile) { p.BillLength.Edges[3] = p.BillLength.Edges[2] }, true); err == nil || !strings.Contains(err.Error(), "not ascending") {
		t.Errorf("edges out of order: %v", err)
	}
}

// TestReferenceProfileOfTheReleasedArtifact: an artifact from before
// profiles gets one rebuilt from the data it was trained on, and none from
// other data.
func TestReferenceProfileOfTheReleasedArtifact(t *testing.T) {
	a, m := loadReleased(t)
	if a.Profile != nil {
		t.Fatal("the released artifact has a profile; this test needs one from before")
	}
	d, derr := Diagnose(context.Background(), a, m, penguins.Embedded{})
	p, err := ReferenceProfile(a, m, d, derr)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Same data, same model: the same reference as a new artifact's.
	if !p.equal(fresh.Profile) {
		t.Errorf("rebuilt profile %+v, a new artifact's %+v", p, fresh.Profile)
	}
	other := filepath.Join(t.TempDir(), "other.csv")
	if err := os.WriteFile(other, bytes.Replace(penguins.EmbeddedCSV(), []byte("39.1,"), []byte("39.2,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	d, derr = Diagnose(context.Background(), a, m, penguins.CSVFile{Path: other})
	if _, err := ReferenceProfile(a, m, d, derr); !errors.Is(err, ErrNoProfile) || !strings.Contains(err.Error(), "predates stored profiles") {
		t.Errorf("other data: %v", err)
	}
}
