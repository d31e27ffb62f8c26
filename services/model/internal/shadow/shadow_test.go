package shadow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// years is the embedded data of some years only: a model trained on it
// differs from the one trained on every row.
type years []int

func (y years) Describe() string { return "test:years" }

func (y years) Load(ctx context.Context) ([]penguins.Penguin, error) {
	rows, err := penguins.Embedded{}.Load(ctx)
	return slices.DeleteFunc(rows, func(p penguins.Penguin) bool { return !slices.Contains(y, p.Year) }), err
}

var at = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// models returns two different verified models: the champion trained on
// every row, the challenger on 2007 alone.
func models(t *testing.T) (champ, chall *massmodel.Artifact, cm, hm *massmodel.Model) {
	t.Helper()
	champ, cm, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, at)
	if err != nil {
		t.Fatal(err)
	}
	chall, hm, err = massmodel.TrainFrom(context.Background(), years{2007}, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Predict(inputs(1)[0]) == hm.Predict(inputs(1)[0]) {
		t.Fatal("the two models predict alike; the test would show nothing")
	}
	return champ, chall, cm, hm
}

// inputs are n records cycling over species, sex and bill lengths.
func inputs(n int) []massmodel.Input {
	out := make([]massmodel.Input, n)
	for i := range out {
		out[i] = massmodel.Input{
			BillLengthMM: 34 + float64(i%230)/10,
			Species:      penguins.AllSpecies[i%3],
			Sex:          penguins.AllSexes[(i/3)%2],
		}
	}
	return out
}

func predictAll(m *massmodel.Model, in []massmodel.Input) []float64 {
	out := make([]float64, len(in))
	for i, x := range in {
		out[i] = m.Predict(x)
	}
	return out
}

// take empties the queue as the scoring goroutine would, without scoring,
// and returns the records it held.
func (s *Scorer) take() int {
	n := 0
	for len(s.ch) > 0 {
		b := <-s.ch
		n += len(b.inputs)
		s.pending.Add(-int64(len(b.inputs)))
	}
	return n
}

func newScorer(t *testing.T, opts Options) *Scorer {
	t.Helper()
	if opts.Alias == "" {
		opts.Alias = "challenger"
	}
	s, err := New(zaptest.NewLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSampledFraction: each record is sampled with probability Rate,
// whatever the batch sizes. With a fixed seed the count is fixed, and it
// must fall within five standard deviations of the binomial's mean.
func TestSampledFraction(t *testing.T) {
	_, chall, _, hm := models(t)
	for _, rate := range []float64{0.01, 0.1, 0.5, 0.9} {
		for _, batch := range []int{1, 7, 1000} {
			rng := rand.New(rand.NewPCG(1, uint64(batch)))
			s := newScorer(t, Options{Rate: rate, Uniform: rng.Uint64})
			s.SetChallenger(chall.Version, hm)
			const n = 100_000
			in := inputs(batch)
			fit := make([]float64, batch)
			sampled := 0
			for range n / batch {
				s.Offer("v", in, fit)
				sampled += s.take()
			}
			offered := n / batch * batch
			mean := rate * float64(offered)
			sd := math.Sqrt(float64(offered) * rate * (1 - rate))
			if math.Abs(float64(sampled)-mean) > 5*sd {
				t.Errorf("rate %v, batches of %d: sampled %d of %d, want %.0f ± %.0f", rate, batch, sampled, offered, mean, 5*sd)
			}
		}
	}
}

// TestRateBounds: rate 1 samples every record, rate 0 none.
func TestRateBounds(t *testing.T) {
	_, chall, _, hm := models(t)
	for _, c := range []struct {
		rate float64
		want int
	}{{1, 500}, {0, 0}} {
		s := newScorer(t, Options{Rate: c.rate})
		s.SetChallenger(chall.Version, hm)
		for range 5 {
			s.Offer("v", inputs(100), make([]float64, 100))
		}
		got := s.take()
		if got != c.want {
			t.Errorf("rate %v: sampled %d, want %d", c.rate, got, c.want)
		}
	}
}

// TestDifferencesMatchIndependentPredictions scores every record in the
// shadow and checks the report against the two models' own predictions,
// computed here.
func TestDifferencesMatchIndependentPredictions(t *testing.T) {
	champ, chall, cm, hm := models(t)
	s := newScorer(t, Options{Rate: 1})
	s.SetChallenger(chall.Version, hm)
	s.Start()
	in := inputs(2000)
	fit := predictAll(cm, in)
	for i := 0; i < len(in); i += 100 {
		s.Offer(champ.Version, in[i:i+100], fit[i:i+100])
	}
	s.Close()

	var sum, sumAbs, maxAbs float64
	abs := make([]float64, len(in))
	counts := make([]uint64, len(Buckets)+1)
	for i, x := range in {
		d := cm.Predict(x) - hm.Predict(x)
		sum, sumAbs, maxAbs, abs[i] = sum+d, sumAbs+math.Abs(d), max(maxAbs, math.Abs(d)), math.Abs(d)
		k := len(Buckets)
		for j, b := range Buckets {
			if math.Abs(d) <= b {
				k = j
				break
			}
		}
		counts[k]++
	}
	r := s.Report(champ.Version)
	if r.Status != modelapi.ShadowOK || r.Champion != champ.Version || r.Challenger != chall.Version || r.Records != 2000 || r.ScoredTotal != 2000 || r.DroppedTotal != 0 {
		t.Fatalf("report %+v", r)
	}
	near := func(name string, got *float64, want float64) {
		if got == nil || math.Abs(*got-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("%s %v, want %v", name, got, want)
		}
	}
	near("mean difference", r.MeanDifference, sum/2000)
	near("mean |difference|", r.MeanAbsDifference, sumAbs/2000)
	near("max |difference|", r.MaxAbsDifference, maxAbs)
	for i, b := range r.Buckets {
		if b.Count != counts[i] {
			t.Errorf("bucket %d (%v, %v]: %d, want %d", i, b.Lower, b.Upper, b.Count, counts[i])
		}
	}
	// Each estimated quantile lies in the bucket of the exact one.
	slices.Sort(abs)
	for _, q := range r.Quantiles {
		exact := abs[int(math.Ceil(q.Quantile*2000))-1]
		k := bucketOf(exact)
		lo, hi := 0.0, maxAbs
		if k > 0 {
			lo = Buckets[k-1]
		}
		if k < len(Buckets) {
			hi = Buckets[k]
		}
		if q.Value < lo || q.Value > hi {
			t.Errorf("quantile %v estimated %v; the exact %v is in (%v, %v]", q.Quantile, q.Value, exact, lo, hi)
		}
	}

	// The metrics say the same.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	if n, err := testutil.GatherAndCount(reg, "model_shadow_abs_difference_grams"); err != nil || n != 1 {
		t.Errorf("histogram series %d, %v", n, err)
	}
	want := `# HELP model_shadow_records_scored_total Live records scored by the challenger in the shadow and compared.
# TYPE model_shadow_records_scored_total counter
model_shadow_records_scored_total 2000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "model_shadow_records_scored_total"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "model_shadow_mean_difference_grams":
			if g := mf.GetMetric()[0].GetGauge().GetValue(); math.Abs(g-sum/2000) > 1e-9 {
				t.Errorf("mean gauge %v, want %v", g, sum/2000)
			}
		case "model_shadow_abs_difference_grams":
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2000 || math.Abs(h.GetSampleSum()-sumAbs) > 1e-6 {
				t.Errorf("histogram count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
			labels := map[string]string{}
			for _, l := range mf.GetMetric()[0].GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["champion"] != champ.Version || labels["challenger"] != chall.Version {
				t.Errorf("labels %v", labels)
			}
		}
	}
}

// TestDropsWhenTheQueueIsFull: with nothing draining the queue, the
// records beyond its bound are dropped and counted, and Offer returns at
// once. Once the scorer runs, what was queued is scored; a request larger
// than the bound is scored when nothing else waits.
func TestDropsWhenTheQueueIsFull(t *testing.T) {
	champ, chall, cm, hm := models(t)
	s := newScorer(t, Options{Rate: 1, Buffer: 20})
	s.SetChallenger(chall.Version, hm)
	in := inputs(10)
	fit := predictAll(cm, in)
	for range 5 {
		s.Offer(champ.Version, in, fit)
	}
	if st := s.Stats(); st.Dropped != 30 || st.Scored != 0 {
		t.Fatalf("before draining: %+v, want 30 dropped", st)
	}
	s.Start()
	s.Close()
	if st := s.Stats(); st.Dropped != 30 || st.Scored != 20 {
		t.Errorf("after: %+v, want 20 scored, 30 dropped", st)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	want := `# HELP model_shadow_records_dropped_total Live records sampled for the shadow but not scored: its queue was full.
# TYPE model_shadow_records_dropped_total counter
model_shadow_records_dropped_total 30
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "model_shadow_records_dropped_total"); err != nil {
		t.Error(err)
	}
	// Closed: what is offered now is dropped, not queued forever.
	s.Offer(champ.Version, in, fit)
	if st := s.Stats(); st.Dropped != 40 {
		t.Errorf("after close: %+v", st)
	}

	big := newScorer(t, Options{Rate: 1, Buffer: 20})
	big.SetChallenger(chall.Version, hm)
	in = inputs(50)
	big.Offer(champ.Version, in, predictAll(cm, in))
	big.Offer(champ.Version, in[:1], fit[:1])
	big.Start()
	big.Close()
	if st := big.Stats(); st.Scored != 50 || st.Dropped != 1 {
		t.Errorf("a request over the bound: %+v, want 50 scored and the next one dropped", st)
	}
}

// TestUnavailable: without a challenger the scorer samples nothing and
// says why; a refusal while one is loaded keeps it.
func TestUnavailable(t *testing.T) {
	champ, chall, cm, hm := models(t)
	s := newScorer(t, Options{Rate: 1})
	if r := s.Report(champ.Version); r.Status != modelapi.ShadowUnavailable || !strings.Contains(r.Reason, `loading the target of alias "challenger"`) {
		t.Errorf("before loading: %+v", r)
	}
	s.Refused("", errors.New(`alias "challenger": unknown alias`))
	s.Offer(champ.Version, inputs(3), predictAll(cm, inputs(3)))
	if r := s.Report(champ.Version); r.Status != modelapi.ShadowUnavailable || r.Reason != `alias "challenger": unknown alias` || len(s.ch) != 0 {
		t.Errorf("refused: %+v, %d queued", r, len(s.ch))
	}
	s.SetChallenger(chall.Version, hm)
	s.Refused("20990101T000000Z-0123456789ab", errors.New("verification failed"))
	if r := s.Report(champ.Version); r.Status != modelapi.ShadowOK || r.Challenger != chall.Version || r.Reason != "" {
		t.Errorf("refused with a challenger: %+v", r)
	}
}

func TestBadOptions(t *testing.T) {
	for _, rate := range []float64{-0.1, 1.5, math.NaN(), math.Inf(1)} {
		if _, err := New(zaptest.NewLogger(t), Options{Alias: "challenger", Rate: rate}); !errors.Is(err, ErrRate) {
			t.Errorf("rate %v: %v", rate, err)
		}
	}
	if _, err := New(zaptest.NewLogger(t), Options{Rate: 0.1}); err == nil {
		t.Error("no alias: no error")
	}
}

// TestConcurrentOffersAndChallengerSwaps runs predictions on many
// goroutines while the challenger changes (as hot reload swaps it) and the
// report is read: under -race, nothing is shared unguarded, and every
// sampled record is either scored or dropped.
func TestConcurrentOffersAndChallengerSwaps(t *testing.T) {
	champ, chall, cm, hm := models(t)
	other, om, err := massmodel.TrainFrom(context.Background(), years{2008, 2009}, at.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s := newScorer(t, Options{Rate: 1, Buffer: 500})
	s.SetChallenger(chall.Version, hm)
	s.Start()
	in := inputs(50)
	fit := predictAll(cm, in)
	var wg sync.WaitGroup
	const workers, rounds = 8, 500
	for range workers {
		wg.Go(func() {
			for range rounds {
				s.Offer(champ.Version, in, fit)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				s.SetChallenger(other.Version, om)
			} else {
				s.SetChallenger(chall.Version, hm)
			}
			s.Report(champ.Version)
		}
	})
	wg.Wait()
	s.Close()
	st := s.Stats()
	if st.Scored+st.Dropped != workers*rounds*50 {
		t.Errorf("scored %d + dropped %d, want %d", st.Scored, st.Dropped, workers*rounds*50)
	}
	// Each pair's differences are the right model's: the mean of each is
	// the mean over the inputs of champion − that challenger, as every
	// pair's records are whole copies of in.
	for _, c := range []struct {
		version string
		m       *massmodel.Model
	}{{chall.Version, hm}, {other.Version, om}} {
		s.SetChallenger(c.version, c.m)
		r := s.Report(champ.Version)
		if r.Records == 0 {
			continue
		}
		var want float64
		for i, x := range in {
			want += fit[i] - c.m.Predict(x)
		}
		want /= float64(len(in))
		if math.Abs(*r.MeanDifference-want) > 1e-6 {
			t.Errorf("%s: mean difference %v, want %v", c.version, *r.MeanDifference, want)
		}
	}
}

// BenchmarkOffer is the request path's cost of the shadow at the default
// rate: sampling one record (and, one time in ten, copying and queueing
// it), on every core at once. The queue is drained as in the service.
func BenchmarkOffer(b *testing.B) {
	for _, rows := range []int{1, 10000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, at)
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(zap.NewNop(), Options{Alias: "challenger", Rate: DefaultRate})
			if err != nil {
				b.Fatal(err)
			}
			s.SetChallenger(a.Version, m)
			s.Start()
			defer s.Close()
			in := inputs(rows)
			fit := predictAll(m, in)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Offer(a.Version, in, fit)
				}
			})
		})
	}
}
