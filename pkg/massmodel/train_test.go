package massmodel

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/palmerops/penguins/pkg/penguins"
)

// rReference is summary(lm(body_mass_g ~ bill_length_mm + species + sex))
// from R 4.2.2 on the same penguins.csv (complete cases, 333 rows), printed
// with options(digits = 17). It is R's output, not this package's.
var rReference = struct {
	coef, se, t, p [P]float64
	r2, adjR2      float64
	sigma, rmse    float64
	vcov           [P][P]float64
	fit, lwr, upr  float64 // predict(..., interval = "prediction") at 45, Gentoo, male
}{
	coef:  [P]float64{2169.269720939403214, 32.536886771203143, -298.765534465278847, 1094.867391448979106, 547.366924077209887},
	se:    [P]float64{271.7525348108133585, 7.3025984432646585, 85.9471655085170312, 74.0294709404243179, 43.2059339924182950},
	t:     [P]float64{7.9825188105405864, 4.4555218288378713, -3.4761534333051665, 14.7896152375596532, 12.6687904530257569},
	p:     [P]float64{2.4359485506637174e-14, 1.1497685776479916e-05, 5.7712178618222522e-04, 2.8109352362360896e-38, 3.2545821831202615e-30},
	r2:    0.85553687595376138,
	adjR2: 0.85377513053856335,
	sigma: 307.90937364118400410,
	rmse:  305.58899864717437822,
	vcov: [P][P]float64{
		{73849.4401761023328, -1971.908409934634619, 19089.13811233147862, 16508.54608458495932, 6714.49803695423998},
		{-1971.9084099346346, 53.327944023571412, -533.80476990186094, -463.82154089395124, -196.98845559388084},
		{19089.1381123314786, -533.804769901860936, 7386.91525894842016, 5292.15559309288255, 1971.82507477010245},
		{16508.5460845849593, -463.821540893951237, 5292.15559309288255, 5480.36256771912849, 1698.95519895443795},
		{6714.4980369542400, -196.988455593880843, 1971.82507477010245, 1698.95519895443795, 1866.75273215720699},
	},
	fit: 5275.6639411697333, lwr: 4663.3133665096157, upr: 5888.014515829851,
}

func relClose(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.17g, want %.17g (relative error %.2g > %g)", what, got, want, math.Abs(got-want)/math.Abs(want), tol)
	}
}

func embeddedFit(t testing.TB) (*Fit, []penguins.Penguin) {
	t.Helper()
	rows, err := penguins.Embedded{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := Train(rows)
	if err != nil {
		t.Fatal(err)
	}
	return f, rows
}

func TestTrainMatchesR(t *testing.T) {
	f, _ := embeddedFit(t)
	if f.N != 333 || f.DF != 328 {
		t.Fatalf("n = %d, df = %d; want 333, 328", f.N, f.DF)
	}
	const tol = 1e-6
	for i, term := range Terms {
		relClose(t, term+" estimate", f.Coefficients[i], rReference.coef[i], tol)
		relClose(t, term+" std error", f.StdErrors[i], rReference.se[i], tol)
		relClose(t, term+" t value", f.TValues[i], rReference.t[i], tol)
		relClose(t, term+" p value", f.PValues[i], rReference.p[i], tol)
		for j := range Terms {
			relClose(t, "vcov "+term+"/"+Terms[j], f.Covariance[i][j], rReference.vcov[i][j], tol)
		}
	}
	relClose(t, "R²", f.R2, rReference.r2, tol)
	relClose(t, "adjusted R²", f.AdjR2, rReference.adjR2, tol)
	relClose(t, "sigma", f.Sigma, rReference.sigma, tol)
	relClose(t, "RMSE", f.RMSE, rReference.rmse, tol)
}

// TestTrainMatchesNormalEquations solves (X'X) b = X'y with gonum's LU
// solver, built from the raw rows independently of Design and of the QR
// inside github.com/sajari/regression.
func TestTrainMatchesNormalEquations(t *testing.T) {
	f, rows := embeddedFit(t)
	var xs []float64
	var ys []float64
	for _, p := range rows {
		if !p.BillLengthMM.Valid || !p.BodyMassG.Valid || p.Sex == penguins.SexNA {
			continue
		}
		ind := func(b bool) float64 {
			if b {
				return 1
			}
			return 0
		}
		xs = append(xs, 1, p.BillLengthMM.Float64, ind(p.Species == penguins.Chinstrap), ind(p.Species == penguins.Gentoo), ind(p.Sex == penguins.Male))
		ys = append(ys, p.BodyMassG.Float64)
	}
	X := mat.NewDense(len(ys), P, xs)
	y := mat.NewVecDense(len(ys), ys)
	var xtx mat.Dense
	xtx.Mul(X.T(), X)
	var xty mat.VecDense
	xty.MulVec(X.T(), y)
	var b mat.VecDense
	if err := b.SolveVec(&xtx, &xty); err != nil {
		t.Fatal(err)
	}
	for i, term := range Terms {
		relClose(t, term, f.Coefficients[i], b.AtVec(i), 1e-9)
	}
}

func TestPredictionIntervalMatchesR(t *testing.T) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	fit, lo, hi := m.Interval(Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male})
	relClose(t, "fit", fit, rReference.fit, 1e-9)
	relClose(t, "lower", lo, rReference.lwr, 1e-6)
	relClose(t, "upper", hi, rReference.upr, 1e-6)
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	var sum float64
	for _, c := range m.Contributions(in) {
		sum += c
	}
	relClose(t, "sum of contributions", sum, m.Predict(in), 1e-12)
	if lo, hi := m.BillLengthRange(); lo != 32.1 || hi != 59.6 {
		t.Errorf("training range = [%g, %g], want [32.1, 59.6]", lo, hi)
	}
	if m.InTrainingRange(Input{BillLengthMM: 70}) || !m.InTrainingRange(Input{BillLengthMM: 45}) {
		t.Error("InTrainingRange is wrong")
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	var sink float64
	allocs := testing.AllocsPerRun(1000, func() {
		sink += m.Predict(in)
		_, lo, hi := m.Interval(in)
		sink += lo + hi
		sink += m.Contributions(in)[1]
	})
	if allocs != 0 {
		t.Errorf("Predict, Interval and Contributions allocate %v times per call, want 0", allocs)
	}
}

func TestTrainRejectsTooLittleData(t *testing.T) {
	rows, _ := penguins.Embedded{}.Load(context.Background())
	if _, err := Train(rows[:3]); err == nil {
		t.Error("3 rows: no error")
	}
	var adelie []penguins.Penguin
	for _, p := range rows {
		if p.Species == penguins.Adelie {
			adelie = append(adelie, p)
		}
	}
	if _, err := Train(adelie); err == nil {
		t.Error("one species only: no error (the design would be rank deficient)")
	}
}

func TestCheckBillLength(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 0, 150.5, 1e300} {
		if CheckBillLength(v) == "" {
			t.Errorf("%g accepted", v)
		}
	}
	for _, v := range []float64{0.1, 32.1, 45, 150} {
		if why := CheckBillLength(v); why != "" {
			t.Errorf("%g rejected: %s", v, why)
		}
	}
}

func BenchmarkPredict(b *testing.B) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		sink += m.Predict(in)
	}
	_ = sink
}

func BenchmarkInterval(b *testing.B) {
	_, m, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		_, lo, hi := m.Interval(in)
		sink += lo + hi
	}
	_ = sink
}

func BenchmarkTrain(b *testing.B) {
	rows, _ := penguins.Embedded{}.Load(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(rows); err != nil {
			b.Fatal(err)
		}
	}
}
