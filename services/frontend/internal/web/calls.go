package web

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// CallLog keeps the most recent calls to the model API for the Status page
// and counts them all in metrics. Pass its Observe to the client's OnCall.
type CallLog struct {
	mu    sync.Mutex
	ring  []modelapi.CallStat
	next  int
	full  bool
	total *prometheus.CounterVec
	dur   *prometheus.HistogramVec
}

// NewCallLog keeps the last n calls.
func NewCallLog(n int) *CallLog {
	return &CallLog{
		ring: make([]modelapi.CallStat, n),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_api_calls_total", Help: "Calls to the model API, by operation and outcome (ok, error, unavailable, auth: the key was refused).",
		}, []string{"op", "outcome"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "model_api_call_duration_seconds", Help: "Latency of calls to the model API, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
	}
}

func (l *CallLog) register(reg prometheus.Registerer) { reg.MustRegister(l.total, l.dur) }

// Observe records one finished call.
func (l *CallLog) Observe(s modelapi.CallStat) {
	outcome := "ok"
	switch {
	case unavailable(s.Err):
		outcome = "unavailable"
	case modelapi.AuthFailed(s.Err):
		outcome = "auth"
	case s.Err != nil:
		outcome = "error"
	}
	l.total.WithLabelValues(s.Op, outcome).Inc()
	l.dur.WithLabelValues(s.Op).Observe(s.Duration.Seconds())
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = s
	l.next = (l.next + 1) % len(l.ring)
	l.full = l.full || l.next == 0
}

// Recent returns the kept calls, newest first.
func (l *CallLog) Recent() []modelapi.CallStat {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	out := make([]modelapi.CallStat, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

// percentile returns the p-th percentile (0–100) of the calls' durations
// by the nearest-rank method.
func percentile(calls []modelapi.CallStat, p float64) time.Duration {
	if len(calls) == 0 {
		return 0
	}
	d := make([]time.Duration, len(calls))
	for i, c := range calls {
		d[i] = c.Duration
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := int(p/100*float64(len(d))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	return d[min(rank, len(d)-1)]
}
