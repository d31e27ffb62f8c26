package massmodel

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

// rLeverage reads the hat values R computed for the training rows
// (testdata/leverage.R, which documents how): every row's inputs and
// leverage, in the CSV's order, and the largest.
func rLeverage(t *testing.T) (rows []Observation, h []float64, hMax float64) {
	t.Helper()
	f, err := os.Open("testdata/leverage-r.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != "bill_length_mm,species,sex,leverage" {
		t.Fatalf("leverage-r.csv header %q", got)
	}
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, r := range recs[1:] {
		rows = append(rows, Observation{BillLengthMM: num(r[0]), Species: r[1], Sex: r[2]})
		h = append(h, num(r[3]))
	}
	b, err := os.ReadFile("testdata/leverage-r-max.txt")
	if err != nil {
		t.Fatal(err)
	}
	return rows, h, num(string(b))
}

func newArtifact(t *testing.T) (*Artifact, *Model) {
	t.Helper()
	a, m, err := TrainFrom(context.Background(), penguins.Embedded{}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

// TestLeverageMatchesR holds every training row's leverage, and the
// largest stored in the artifact, to R's hatvalues(lm(...)) on the same
// rows, to 1e-9.
func TestLeverageMatchesR(t *testing.T) {
	a, m := newArtifact(t)
	rRows, rH, rMax := rLeverage(t)
	if len(rRows) != len(a.Observations) {
		t.Fatalf("R has %d training rows, the artifact %d", len(rRows), len(a.Observations))
	}
	const tol = 1e-9
	var sum, max float64
	for i, o := range a.Observations {
		if r := rRows[i]; r.BillLengthMM != o.BillLengthMM || r.Species != o.Species || r.Sex != o.Sex {
			t.Fatalf("row %d: R has %+v, the artifact %+v: not the same rows", i, r, o)
		}
		in, err := parseInput(o.BillLengthMM, o.Species, o.Sex)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Leverage(in)
		if math.Abs(h-rH[i]) > tol {
			t.Errorf("row %d (%+v): leverage %.17g, R %.17g", i, o, h, rH[i])
		}
		// The interval's computation gives the same leverage (to rounding:
		// one is the full form, the other its quadratic in bill length).
		if _, _, _, hi := m.IntervalLeverage(in); math.Abs(hi-h) > 1e-14 {
			t.Errorf("row %d: IntervalLeverage %.17g, Leverage %.17g", i, hi, h)
		}
		sum += h
		max = math.Max(max, h)
	}
	// The hat matrix is a projection onto the P columns: its trace is P.
	if math.Abs(sum-P) > 1e-9 {
		t.Errorf("leverages sum to %.17g, want %d", sum, P)
	}
	if math.Abs(a.Domain.MaxLeverage-rMax) > tol {
		t.Errorf("stored max_leverage %.17g, R %.17g", a.Domain.MaxLeverage, rMax)
	}
	if a.Domain.MaxLeverage != max || m.MaxLeverage() != max {
		t.Errorf("stored max_leverage %.17g, model's %.17g, the rows' largest %.17g", a.Domain.MaxLeverage, m.MaxLeverage(), max)
	}
}

// TestDomainOfTheTrainingData: the per-species ranges are those of the
// data (issue 16's table), and the check flags what it should.
func TestDomainOfTheTrainingData(t *testing.T) {
	a, m := newArtifact(t)
	want := []SpeciesRange{{"Adelie", 32.1, 46.0}, {"Chinstrap", 40.9, 58.0}, {"Gentoo", 40.9, 59.6}}
	if len(a.Domain.BillLength) != len(want) {
		t.Fatalf("species ranges %+v, want %+v", a.Domain.BillLength, want)
	}
	for i, w := range want {
		if got := a.Domain.BillLength[i]; got != w {
			t.Errorf("range %d: %+v, want %+v", i, got, w)
		}
		lo, hi, ok := m.SpeciesBillLengthRange(penguins.AllSpecies[i])
		if !ok || lo != w.Min || hi != w.Max {
			t.Errorf("%s: model range [%v, %v] (%v), want [%v, %v]", w.Species, lo, hi, ok, w.Min, w.Max)
		}
	}
	if !m.Joint() {
		t.Fatal("a new artifact's model does not check jointly")
	}
	check := func(bill float64, s penguins.Species, sex penguins.Sex) Extrapolation {
		in := Input{BillLengthMM: bill, Species: s, Sex: sex}
		_, _, _, h := m.IntervalLeverage(in)
		return m.Extrapolation(in, h)
	}
	for _, sex := range penguins.AllSexes {
		// Inside the pooled range, far outside the Adelie data, on both counts.
		if got := check(55, penguins.Adelie, sex); got != OutsideSpeciesRange|HighLeverage {
			t.Errorf("55 mm %s Adelie: %v, want species_range+leverage", sex, got)
		}
		if got := check(45, penguins.Gentoo, sex); got != 0 {
			t.Errorf("45 mm %s Gentoo: %v, want nothing", sex, got)
		}
		if got := check(70, penguins.Gentoo, sex); got != OutsideTrainingRange|OutsideSpeciesRange|HighLeverage {
			t.Errorf("70 mm %s Gentoo: %v, want every reason", sex, got)
		}
	}
	// Just outside the Adelie range: the range says so, the leverage not yet.
	if got := check(46.1, penguins.Adelie, penguins.Male); got != OutsideSpeciesRange {
		t.Errorf("46.1 mm male Adelie: %v, want species_range", got)
	}
	// No training row is flagged, by Leverage or by the interval's path.
	for i, o := range a.Observations {
		in, _ := parseInput(o.BillLengthMM, o.Species, o.Sex)
		if got := m.Extrapolation(in, m.Leverage(in)); got != 0 {
			t.Errorf("training row %d (%+v) flagged: %v", i, o, got)
		}
		if got := check(o.BillLengthMM, in.Species, in.Sex); got != 0 {
			t.Errorf("training row %d (%+v) flagged on the interval's path: %v", i, o, got)
		}
	}
	if s := (OutsideTrainingRange | HighLeverage).String(); s != "training_range+leverage" {
		t.Errorf("String() = %q", s)
	}
}

// TestDomainIsVerified: the domain is covered by the content hash, and one
// that is not the training rows' own, or malformed, is refused even with
// the hash recomputed.
func TestDomainIsVerified(t *testing.T) {
	a, _ := newArtifact(t)
	edit := func(f func(*Domain), rehash bool) error {
		b := *a
		d := *a.Domain
		d.BillLength = append([]SpeciesRange(nil), a.Domain.BillLength...)
		b.Domain = &d
		f(&d)
		if rehash {
			b.ContentSHA256 = b.digest()
			b.Version = b.Created.Format("20060102T150405Z") + "-" + b.ContentSHA256[:12]
		}
		_, err := b.Verify()
		return err
	}
	widen := func(d *Domain) { d.BillLength[0].Max = 50 }
	for _, c := range []struct {
		name   string
		edit   func(*Domain)
		rehash bool
		want   string
	}{
		{"widened Adelie range", widen, false, "hash mismatch"},
		{"widened Adelie range, rehashed", widen, true, "domain does not match its training rows"},
		{"larger max leverage, rehashed", func(d *Domain) { d.MaxLeverage *= 1.01 }, true, "domain does not match its training rows"},
		{"leverage above 1", func(d *Domain) { d.MaxLeverage = 1.5 }, true, "max_leverage 1.5"},
		{"species missing", func(d *Domain) { d.BillLength = d.BillLength[:2] }, true, "2 species ranges, want 3"},
		{"species out of order", func(d *Domain) { d.BillLength[0], d.BillLength[1] = d.BillLength[1], d.BillLength[0] }, true, `is for "Chinstrap", want "Adelie"`},
		{"range beyond the pooled one", func(d *Domain) { d.BillLength[2].Max = 70 }, true, "outside the training range [32.1, 59.6]"},
		{"range reversed", func(d *Domain) { d.BillLength[1].Min = 60 }, true, "Chinstrap range [60, 58] is malformed"},
	} {
		if err := edit(c.edit, c.rehash); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestReleasedArtifactFallsBackToThePooledRange: an artifact from before
// the domain was stored loads unchanged and checks the pooled range only.
func TestReleasedArtifactFallsBackToThePooledRange(t *testing.T) {
	a, m := loadReleased(t)
	if a.Domain != nil {
		t.Fatal("the released artifact has a domain; this test needs one from before")
	}
	if m.Joint() || m.MaxLeverage() != 0 {
		t.Errorf("joint %v, max leverage %v; want the pooled check only", m.Joint(), m.MaxLeverage())
	}
	if _, _, ok := m.SpeciesBillLengthRange(penguins.Adelie); ok {
		t.Error("the released model has species ranges")
	}
	adelie := Input{BillLengthMM: 55, Species: penguins.Adelie, Sex: penguins.Male}
	if got := m.Extrapolation(adelie, m.Leverage(adelie)); got != 0 {
		t.Errorf("55 mm Adelie under the pooled check: %v, want nothing", got)
	}
	long := Input{BillLengthMM: 70, Species: penguins.Gentoo, Sex: penguins.Male}
	if got := m.Extrapolation(long, m.Leverage(long)); got != OutsideTrainingRange {
		t.Errorf("70 mm Gentoo under the pooled check: %v, want training_range", got)
	}
}

// TestExtrapolationMessages: each combination of reasons in words, with
// the leverage printed to as many digits as tell it from the largest, and
// text that goes into a JSON string unescaped.
func TestExtrapolationMessages(t *testing.T) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	adelie := Input{BillLengthMM: 55, Species: penguins.Adelie, Sex: penguins.Male}
	for _, c := range []struct {
		in       Input
		e        Extrapolation
		leverage float64
		want     string
	}{
		{adelie, 0, 0, ""},
		{adelie, OutsideSpeciesRange, 0,
			"bill_length_mm 55 is outside the Adelie training range [32.1, 46]; the prediction is an extrapolation"},
		{Input{BillLengthMM: 70, Species: penguins.Gentoo, Sex: penguins.Female}, OutsideTrainingRange, 0,
			"bill_length_mm 70 is outside the training range [32.1, 59.6]; the prediction is an extrapolation"},
		{Input{BillLengthMM: 31.5, Species: penguins.Chinstrap, Sex: penguins.Female}, OutsideTrainingRange | OutsideSpeciesRange | HighLeverage, 0.5,
			"bill_length_mm 31.5 is outside the training range [32.1, 59.6] and the Chinstrap training range [40.9, 58]; " +
				"leverage 0.5 > 0.086, the largest in the training data; the prediction is an extrapolation"},
		{Input{BillLengthMM: 44.5, Species: penguins.Gentoo, Sex: penguins.Male}, HighLeverage, m.MaxLeverage() * 1.001,
			"bill_length_mm 44.5 for a male Gentoo has leverage 0.086 > 0.0859, the largest in the training data; the prediction is an extrapolation"},
	} {
		got := m.ExtrapolationMessage(c.in, c.e, c.leverage)
		if got != c.want {
			t.Errorf("%v %v:\n got %q\nwant %q", c.in, c.e, got, c.want)
		}
		if q := strconv.Quote(got); q[1:len(q)-1] != got {
			t.Errorf("%q needs escaping in JSON", got)
		}
		if b := m.AppendExtrapolationMessage([]byte("x"), c.in, c.e, c.leverage); string(b) != "x"+got {
			t.Errorf("appended to %q: %q", "x", b)
		}
	}
}

// The extrapolation check's cost on the request path, next to
// BenchmarkInterval and BenchmarkPredict: with intervals the leverage is
// the interval's own x′ Cov x over σ²; without, the quadratic form on its
// own.
func BenchmarkIntervalChecked(b *testing.B) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		_, lo, hi, h := m.IntervalLeverage(in)
		sink += lo + hi + float64(m.Extrapolation(in, h))
	}
	_ = sink
}

func BenchmarkPredictChecked(b *testing.B) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		sink += m.Predict(in) + float64(m.Extrapolation(in, m.Leverage(in)))
	}
	_ = sink
}

// The warning's cost: a response lists up to 100 of them, so a batch of
// extrapolations pays it 100 times.
func BenchmarkExtrapolationMessage(b *testing.B) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{BillLengthMM: 55, Species: penguins.Adelie, Sex: penguins.Male}
	h := m.Leverage(in)
	e := m.Extrapolation(in, h)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = m.AppendExtrapolationMessage(buf[:0], in, e, h)
	}
}
