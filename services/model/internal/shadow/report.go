package shadow

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// Buckets are the upper bounds, in grams, of the buckets of |champion −
// challenger|: from a rounding difference to a different model altogether
// (a penguin weighs 2,700 to 6,300 g).
var Buckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}

// Quantiles are the quantiles of |difference| a report estimates.
var Quantiles = []float64{0.5, 0.9, 0.99}

// pair is the differences of one champion version against one challenger
// version. It is guarded by Scorer.mu.
type pair struct {
	champion, challenger string
	first, last          time.Time

	n           uint64
	sum, sumAbs float64 // of champion − challenger, and of its absolute value
	maxAbs      float64
	buckets     []uint64 // per bucket, not cumulative; the last is above Buckets' last bound
}

// add counts one difference, champion − challenger.
func (p *pair) add(d float64) {
	a := math.Abs(d)
	p.n++
	p.sum += d
	p.sumAbs += a
	p.maxAbs = max(p.maxAbs, a)
	p.buckets[bucketOf(a)]++
}

// bucketOf is the index of the bucket (Buckets[i-1], Buckets[i]] holding
// a: upper bounds included, as Prometheus's le.
func bucketOf(a float64) int {
	for i, b := range Buckets {
		if a <= b {
			return i
		}
	}
	return len(Buckets)
}

// quantile estimates the q-quantile of |difference| from the buckets, by
// linear interpolation within the bucket it falls in (as Prometheus's
// histogram_quantile), with the largest difference seen as the upper bound
// of the last bucket and a cap on every other.
func (p *pair) quantile(q float64) float64 {
	rank := q * float64(p.n)
	var seen float64
	for i, c := range p.buckets {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := 0.0, p.maxAbs
			if i > 0 {
				lo = Buckets[i-1]
			}
			if i < len(Buckets) {
				hi = min(Buckets[i], p.maxAbs)
			}
			return lo + (hi-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return p.maxAbs
}

// Report is GET /monitoring/shadow's body for the served version champion:
// the statistics of champion against the current challenger.
func (s *Scorer) Report(champion string) modelapi.Shadow {
	st := s.Stats()
	r := modelapi.Shadow{
		Status: modelapi.ShadowOK, Alias: s.opts.Alias, SampleRate: s.opts.Rate, Champion: champion,
		ScoredTotal: st.Scored, DroppedTotal: st.Dropped,
		Quantiles: []modelapi.ShadowQuantile{}, Buckets: make([]modelapi.ShadowBucket, len(Buckets)+1),
	}
	for i := range r.Buckets {
		if i > 0 {
			r.Buckets[i].Lower = Buckets[i-1]
		}
		if i < len(Buckets) {
			r.Buckets[i].Upper = &Buckets[i]
		}
	}
	c := s.challenger.Load()
	if c == nil {
		r.Status = modelapi.ShadowUnavailable
		if reason := s.reason.Load(); reason != nil {
			r.Reason = *reason
		}
		return r
	}
	r.Challenger = c.version
	s.mu.Lock()
	defer s.mu.Unlock()
	var p *pair
	for _, q := range s.pairs {
		if q.champion == champion && q.challenger == c.version {
			p = q
		}
	}
	if p == nil || p.n == 0 {
		return r
	}
	first, last := p.first, p.last
	n := float64(p.n)
	mean, meanAbs, maxAbs := p.sum/n, p.sumAbs/n, p.maxAbs
	r.Records, r.First, r.Last = p.n, &first, &last
	r.MeanDifference, r.MeanAbsDifference, r.MaxAbsDifference = &mean, &meanAbs, &maxAbs
	for _, q := range Quantiles {
		r.Quantiles = append(r.Quantiles, modelapi.ShadowQuantile{Quantile: q, Value: p.quantile(q)})
	}
	for i, c := range p.buckets {
		r.Buckets[i].Count = c
	}
	return r
}

// Collector exports the shadow's metrics at scrape time, from the same
// statistics as Report: for each recent pair of versions a histogram of
// |champion − challenger| and the mean signed difference, the records
// scored and dropped, and whether a challenger is loaded.
func (s *Scorer) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Scorer }

var (
	absDesc = prometheus.NewDesc("model_shadow_abs_difference_grams",
		"Distribution of |champion − challenger| over the live records scored in the shadow, by pair of versions.",
		[]string{"champion", "challenger"}, nil)
	meanDesc = prometheus.NewDesc("model_shadow_mean_difference_grams",
		"Mean of champion − challenger over the live records scored in the shadow, by pair of versions: above zero, the challenger predicts less.",
		[]string{"champion", "challenger"}, nil)
	scoredDesc = prometheus.NewDesc("model_shadow_records_scored_total",
		"Live records scored by the challenger in the shadow and compared.", nil, nil)
	droppedDesc = prometheus.NewDesc("model_shadow_records_dropped_total",
		"Live records sampled for the shadow but not scored: its queue was full.", nil, nil)
	availableDesc = prometheus.NewDesc("model_shadow_available",
		"1 when a challenger is loaded and scores in the shadow, 0 when none could be loaded.", []string{"alias"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{absDesc, meanDesc, scoredDesc, droppedDesc, availableDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(scoredDesc, prometheus.CounterValue, float64(st.Scored))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(st.Dropped))
	available := 0.0
	if s.challenger.Load() != nil {
		available = 1
	}
	ch <- prometheus.MustNewConstMetric(availableDesc, prometheus.GaugeValue, available, s.opts.Alias)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pairs {
		cum := make(map[float64]uint64, len(Buckets))
		var seen uint64
		for i, b := range Buckets {
			seen += p.buckets[i]
			cum[b] = seen
		}
		ch <- prometheus.MustNewConstHistogram(absDesc, p.n, p.sumAbs, cum, p.champion, p.challenger)
		if p.n > 0 {
			ch <- prometheus.MustNewConstMetric(meanDesc, prometheus.GaugeValue, p.sum/float64(p.n), p.champion, p.challenger)
		}
	}
}
