package drift

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// trained returns a model and its training rows as inputs, with their
// predictions.
func trained(t *testing.T) (*massmodel.Artifact, *massmodel.Model, []massmodel.Input, []float64) {
	t.Helper()
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ins []massmodel.Input
	var preds []float64
	for _, o := range a.Observations {
		sp, _ := penguins.ParseSpecies(o.Species)
		sx, _ := penguins.ParseSex(o.Sex)
		in := massmodel.Input{BillLengthMM: o.BillLengthMM, Species: sp, Sex: sx}
		ins, preds = append(ins, in), append(preds, m.Predict(in))
	}
	return a, m, ins, preds
}

func byFeature(fs []modelapi.FeatureDrift) map[string]modelapi.FeatureDrift {
	out := map[string]modelapi.FeatureDrift{}
	for _, f := range fs {
		out[f.Feature] = f
	}
	return out
}

func TestTrainingLikeTrafficIsOK(t *testing.T) {
	a, _, ins, preds := trained(t)
	tr, err := New(a.Profile, 1000, 100, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The training rows themselves, three times over: the window holds the
	// last 1000, whose shares are close to the reference.
	for range 3 {
		tr.Add(ins, preds, nil, time.Now())
	}
	w, fs, changes := tr.Report()
	if w.Records != 999 && w.Records != 1000 {
		t.Errorf("window holds %d records", w.Records)
	}
	for _, f := range fs {
		if f.Status != modelapi.DriftOK || f.PSI == nil || *f.PSI >= WarnPSI {
			t.Errorf("%s: status %s psi %v", f.Feature, f.Status, f.PSI)
		}
		sumRef, sumCur := 0.0, 0.0
		for _, b := range f.Bins {
			sumRef += b.Reference
			sumCur += b.Current
		}
		if math.Abs(sumRef-1) > 1e-9 || math.Abs(sumCur-1) > 1e-9 {
			t.Errorf("%s: shares sum to %v and %v", f.Feature, sumRef, sumCur)
		}
	}
	if len(changes) != 4 {
		t.Errorf("changes %v, want all four from insufficient_data to ok", changes)
	}
	if _, _, again := tr.Report(); len(again) != 0 {
		t.Errorf("a second report repeats changes: %v", again)
	}
}

func TestShiftedTrafficAlerts(t *testing.T) {
	a, m, _, _ := trained(t)
	tr, err := New(a.Profile, 500, 100, "test")
	if err != nil {
		t.Fatal(err)
	}
	var ins []massmodel.Input
	var preds []float64
	for i := range 99 {
		in := massmodel.Input{BillLengthMM: 52 + float64(i%40)/10, Species: penguins.Gentoo, Sex: penguins.Male}
		ins, preds = append(ins, in), append(preds, m.Predict(in))
	}
	tr.Add(ins, preds, nil, time.Now())
	_, fs, _ := tr.Report()
	for _, f := range fs {
		if f.Status != modelapi.DriftInsufficient || f.PSI != nil {
			t.Errorf("99 records: %s is %s (psi %v), want insufficient_data", f.Feature, f.Status, f.PSI)
		}
	}
	tr.Add(ins[:1], preds[:1], nil, time.Now())
	_, fs, changes := tr.Report()
	got := byFeature(fs)
	for _, name := range Features {
		if got[name].Status != modelapi.DriftAlert {
			t.Errorf("%s: %s (psi %v), want alert", name, got[name].Status, *got[name].PSI)
		}
	}
	if len(changes) != 4 || changes[0].To != modelapi.DriftAlert || changes[0].From != modelapi.DriftInsufficient {
		t.Errorf("changes %+v", changes)
	}
	// PSI by hand for sex: all male against the training shares.
	ref := a.Profile.Sex.Shares
	want := (1e-4-ref[0])*math.Log(1e-4/ref[0]) + (1-ref[1])*math.Log(1/ref[1])
	if psi := *got["sex"].PSI; math.Abs(psi-want) > 1e-12 {
		t.Errorf("sex psi %v, by hand %v", psi, want)
	}
}

func TestWindowKeepsTheLastRecords(t *testing.T) {
	a, m, _, _ := trained(t)
	tr, _ := New(a.Profile, 10, 1, "test")
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	adelie := massmodel.Input{BillLengthMM: 38, Species: penguins.Adelie, Sex: penguins.Female}
	gentoo := massmodel.Input{BillLengthMM: 50, Species: penguins.Gentoo, Sex: penguins.Male}
	for i := range 25 {
		tr.Add([]massmodel.Input{adelie}, []float64{m.Predict(adelie)}, nil, old.Add(time.Duration(i)*time.Second))
	}
	// A batch larger than the window replaces all of it.
	batch := make([]massmodel.Input, 30)
	preds := make([]float64, 30)
	for i := range batch {
		batch[i], preds[i] = gentoo, m.Predict(gentoo)
	}
	now := old.Add(time.Hour)
	tr.Add(batch, preds, nil, now)
	w, fs, _ := tr.Report()
	if w.Records != 10 || !w.Newest.Equal(now) || !w.Oldest.Equal(now) {
		t.Errorf("window %+v", w)
	}
	species := byFeature(fs)["species"]
	if species.Bins[2].Label != "Gentoo" || species.Bins[2].Current != 1 {
		t.Errorf("species bins %+v", species.Bins)
	}
	// Partly refilled: the oldest is the first record still in it.
	tr2, _ := New(a.Profile, 10, 1, "test")
	for i := range 15 {
		tr2.Add([]massmodel.Input{adelie}, []float64{m.Predict(adelie)}, nil, old.Add(time.Duration(i)*time.Second))
	}
	w, _, _ = tr2.Report()
	if !w.Oldest.Equal(old.Add(5*time.Second)) || !w.Newest.Equal(old.Add(14*time.Second)) {
		t.Errorf("oldest %v newest %v", w.Oldest, w.Newest)
	}
}

// TestConcurrentAdds: many goroutines adding at once lose nothing: every
// feature's counts sum to the window.
func TestConcurrentAdds(t *testing.T) {
	a, _, ins, preds := trained(t)
	tr, _ := New(a.Profile, 1000, 100, "test")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				j := (g*500 + i) % len(ins)
				tr.Add(ins[j:j+1], preds[j:j+1], nil, time.Now())
			}
		})
	}
	wg.Wait()
	for f := range nFeatures {
		n := int64(0)
		for b := range tr.counts[f] {
			n += tr.counts[f][b].Load()
		}
		if n != 1000 {
			t.Errorf("feature %s counts %d records, want 1000", Features[f], n)
		}
	}
}

func TestNewRefusesBadSizes(t *testing.T) {
	a, _, _, _ := trained(t)
	for _, c := range []struct{ size, min int }{{0, 1}, {10, 0}, {10, 11}, {MaxWindow + 1, 1}} {
		if _, err := New(a.Profile, c.size, c.min, "test"); err == nil {
			t.Errorf("window %d min %d accepted", c.size, c.min)
		}
	}
}

// TestWindowExtrapolationShares: the window reports the share of its
// records that were extrapolations, in all and by reason, and forgets a
// record's reasons when it leaves the window.
func TestWindowExtrapolationShares(t *testing.T) {
	a, m, _, _ := trained(t)
	tr, err := New(a.Profile, 4, 1, "test")
	if err != nil {
		t.Fatal(err)
	}
	batch := []massmodel.Input{
		{BillLengthMM: 55, Species: penguins.Adelie, Sex: penguins.Male},   // species_range+leverage
		{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male},   // none
		{BillLengthMM: 70, Species: penguins.Gentoo, Sex: penguins.Male},   // every reason
		{BillLengthMM: 39, Species: penguins.Adelie, Sex: penguins.Female}, // none
	}
	var preds []float64
	var ext []massmodel.Extrapolation
	for _, in := range batch {
		preds = append(preds, m.Predict(in))
		ext = append(ext, m.Extrapolation(in, m.Leverage(in)))
	}
	tr.Add(batch, preds, ext, time.Now())
	w, _, _ := tr.Report()
	want := map[string]float64{"training_range": 0.25, "species_range": 0.5, "leverage": 0.5}
	if w.Extrapolated.Share != 0.5 || len(w.Extrapolated.ByReason) != len(want) {
		t.Fatalf("extrapolated %+v, want 0.5 and %v", w.Extrapolated, want)
	}
	for r, v := range want {
		if w.Extrapolated.ByReason[r] != v {
			t.Errorf("%s: %v, want %v", r, w.Extrapolated.ByReason[r], v)
		}
	}
	// Two plain records take the oldest slots: the 55 mm Adelie leaves,
	// the 70 mm Gentoo stays.
	tr.Add(batch[1:2], preds[1:2], ext[1:2], time.Now())
	tr.Add(batch[3:], preds[3:], nil, time.Now())
	w, _, _ = tr.Report()
	for _, r := range []string{"training_range", "species_range", "leverage"} {
		if w.Extrapolated.Share != 0.25 || w.Extrapolated.ByReason[r] != 0.25 {
			t.Errorf("after two plain records: %+v, want the 70 mm Gentoo's quarter for every reason", w.Extrapolated)
		}
	}
}
