package api

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBatchHistogramMatchesPrometheus: values added a batch at a time
// export exactly as prometheus.Histogram exports them added one by one,
// values on the bounds and outside them included.
func TestBatchHistogramMatchesPrometheus(t *testing.T) {
	bounds := prometheus.LinearBuckets(2500, 250, 17)
	ours := newBatchHistogram("h", "help", bounds)
	theirs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "help", Buckets: bounds})

	rng := rand.New(rand.NewPCG(1, 2))
	values := []float64{0, -1, 2500, 2500.0000001, 2749.9999999, 2750, 6500, 6500.000001, 1e9, math.Nextafter(3000, 0)}
	for range 5000 {
		values = append(values, 2000+rng.Float64()*5000)
	}
	for start := 0; start < len(values); {
		n := min(1+rng.IntN(300), len(values)-start)
		ours.observe(values[start : start+n])
		for _, v := range values[start : start+n] {
			theirs.Observe(v)
		}
		start += n
	}
	ours.observe(nil)

	got, want := gatherHistogram(t, ours), gatherHistogram(t, theirs)
	if got.GetSampleCount() != want.GetSampleCount() {
		t.Errorf("count %d, want %d", got.GetSampleCount(), want.GetSampleCount())
	}
	if d := math.Abs(got.GetSampleSum() - want.GetSampleSum()); d > 1e-9*math.Abs(want.GetSampleSum()) {
		t.Errorf("sum %v, want %v", got.GetSampleSum(), want.GetSampleSum())
	}
	if len(got.Bucket) != len(want.Bucket) {
		t.Fatalf("%d buckets, want %d", len(got.Bucket), len(want.Bucket))
	}
	for i := range want.Bucket {
		g, w := got.Bucket[i], want.Bucket[i]
		if g.GetUpperBound() != w.GetUpperBound() || g.GetCumulativeCount() != w.GetCumulativeCount() {
			t.Errorf("bucket le=%v: %d; want le=%v: %d", g.GetUpperBound(), g.GetCumulativeCount(), w.GetUpperBound(), w.GetCumulativeCount())
		}
	}
}

func gatherHistogram(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v", mfs)
	}
	return mfs[0].Metric[0].GetHistogram()
}
