// Package shadow scores a sample of the served model's records with a
// second model, the challenger an alias of the store points to, off the
// response path, and measures how the two disagree.
//
// The request path only samples and copies: Offer picks records at the
// configured rate, copies them with the served model's predictions into a
// pooled batch and hands the batch to a bounded queue, dropping (and
// counting) it when the queue is full. One goroutine drains the queue, scores
// the records with the challenger and keeps the differences, champion −
// challenger, for the current pair of versions.
package shadow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// Options configure a Scorer.
type Options struct {
	// Alias is the store's alias whose target scores in the shadow.
	Alias string
	// Rate is the share of records scored in the shadow, from 0 to 1.
	Rate float64
	// Buffer bounds the sampled records waiting to be scored; beyond it,
	// a request's sampled records are dropped and counted (unless nothing
	// else waits: one request larger than the bound is still scored).
	// Default DefaultBuffer.
	Buffer int
	// Uniform returns uniformly distributed 64-bit numbers for sampling;
	// default math/rand/v2's Uint64 (per-thread state: no lock on the
	// request path). Tests pass a seeded source.
	Uniform func() uint64
	// Now is the clock of the pairs' first and last comparisons; default
	// time.Now.
	Now func() time.Time
}

// DefaultRate is MODEL_SHADOW_SAMPLE's default.
const DefaultRate = 0.1

// DefaultBuffer bounds the sampled records waiting: 2 MiB of records, and
// at the drain interval room for over 3 million sampled records a second.
const DefaultBuffer = 1 << 16

// maxBatches bounds the requests waiting, whatever their size: at the
// drain interval, room for 200,000 sampled requests a second.
const maxBatches = 4096

// bernoulliBelow is the number of records left below which sampling draws
// once per record (one random number and a comparison) rather than the gap
// to the next sampled record (one random number and a logarithm per sampled
// record): the first is cheaper for a single record, the second for a
// batch.
const bernoulliBelow = 8

// drainEvery is how often the scoring goroutine wakes to score what is
// waiting. It never waits on the request path's sends: waking once per
// request would cost a goroutine switch per prediction.
const drainEvery = 20 * time.Millisecond

// maxPooled bounds the records of a batch kept for reuse, so that one huge
// request does not pin its memory.
const maxPooled = 4096

// Scorer scores a sample of the served records with the challenger. It
// follows the challenger as the service's reload.Watcher swaps it in
// (SetChallenger) or refuses a target (Refused). Start starts the scoring
// goroutine; Close scores what is waiting and stops it.
type Scorer struct {
	log  *zap.Logger
	opts Options
	// threshold is Rate as a share of 2⁶⁴: a record is sampled when a
	// uniform 64-bit number is below it. logq is log(1 − Rate): the gaps
	// between sampled records are geometric.
	threshold uint64
	logq      float64

	challenger atomic.Pointer[challenger]
	reason     atomic.Pointer[string] // why there is no challenger while there is none

	ch       chan *batch
	pending  atomic.Int64 // sampled records in ch
	pool     sync.Pool    // *batch
	stop     chan struct{}
	done     chan struct{}
	started  atomic.Bool
	stopping atomic.Bool

	scored, dropped atomic.Uint64

	mu    sync.Mutex
	pairs []*pair // most recently compared last
}

// challenger is the model scoring in the shadow.
type challenger struct {
	version string
	model   *massmodel.Model
}

// batch is one request's sampled records with the served model's
// predictions, copied off the request path.
type batch struct {
	champion string
	inputs   []massmodel.Input
	fit      []float64
}

// ErrRate is returned by New for a sampling rate outside [0, 1].
var ErrRate = errors.New("shadow: sampling rate must be from 0 to 1")

// New returns a Scorer with no challenger yet: until SetChallenger hands it
// one it samples nothing and reports itself unavailable for the reason
// "loading".
func New(log *zap.Logger, opts Options) (*Scorer, error) {
	if !(opts.Rate >= 0 && opts.Rate <= 1) { // NaN too
		return nil, fmt.Errorf("%w, got %v", ErrRate, opts.Rate)
	}
	if opts.Alias == "" {
		return nil, errors.New("shadow: no alias to follow")
	}
	if opts.Buffer < 1 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Uniform == nil {
		opts.Uniform = rand.Uint64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Scorer{
		log: log, opts: opts, logq: math.Log1p(-opts.Rate),
		ch: make(chan *batch, maxBatches), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if opts.Rate < 1 {
		s.threshold = uint64(opts.Rate * (1 << 64)) // below 2⁶⁴: Rate < 1
	}
	s.pool.New = func() any { return new(batch) }
	loading := fmt.Sprintf("loading the target of alias %q", opts.Alias)
	s.reason.Store(&loading)
	return s, nil
}

// Offer hands the records of one scored request to the shadow: inputs[i]
// scored fit[i] on the served model, version champion. It samples the
// records at the configured rate and copies the sampled ones, so the caller
// may reuse the slices at once. When the queue is full the sampled records
// are dropped and counted; Offer never waits.
func (s *Scorer) Offer(champion string, inputs []massmodel.Input, fit []float64) {
	if s.opts.Rate == 0 || len(inputs) == 0 || s.challenger.Load() == nil {
		return
	}
	var b *batch
	for i := s.skip(0, len(inputs)); i < len(inputs); i = s.skip(i+1, len(inputs)) {
		if b == nil {
			b = s.pool.Get().(*batch)
			b.champion, b.inputs, b.fit = champion, b.inputs[:0], b.fit[:0]
		}
		b.inputs = append(b.inputs, inputs[i])
		b.fit = append(b.fit, fit[i])
	}
	if b == nil {
		return
	}
	n := int64(len(b.inputs))
	// Over the bound, drop, unless nothing else is waiting.
	if p := s.pending.Add(n); s.stopping.Load() || (p > int64(s.opts.Buffer) && p != n) {
		s.pending.Add(-n)
		s.drop(b)
		return
	}
	select {
	case s.ch <- b:
	default:
		s.pending.Add(-n)
		s.drop(b)
	}
}

// skip returns the index of the next sampled record from i on, n when there
// is none before n. Each record is sampled independently with probability
// Rate: record by record near the end, else by drawing the gap to the next
// sampled one, geometric, by inversion (the two mix freely: the gap from
// any record on has the same law).
func (s *Scorer) skip(i, n int) int {
	if s.opts.Rate == 1 || i >= n {
		return i
	}
	if n-i < bernoulliBelow {
		for ; i < n; i++ {
			if s.opts.Uniform() < s.threshold {
				return i
			}
		}
		return n
	}
	// u in (0, 1]: log(u) is finite.
	u := (float64(s.opts.Uniform()>>11) + 1) / (1 << 53)
	gap := math.Floor(math.Log(u) / s.logq)
	if gap >= float64(n-i) {
		return n
	}
	return i + int(gap)
}

func (s *Scorer) drop(b *batch) {
	s.dropped.Add(uint64(len(b.inputs)))
	s.put(b)
}

func (s *Scorer) put(b *batch) {
	if cap(b.inputs) <= maxPooled {
		s.pool.Put(b)
	}
}

// SetChallenger makes m, a verified model of version, the challenger: the
// service's reload.Watcher hands it each verified target of the alias.
// Records already waiting are scored by the new challenger.
func (s *Scorer) SetChallenger(version string, m *massmodel.Model) {
	old := s.challenger.Swap(&challenger{version: version, model: m})
	s.reason.Store(nil)
	from := ""
	if old != nil {
		from = old.version
	}
	s.log.Info("shadow model loaded", zap.String("alias", s.opts.Alias), zap.String("from", from),
		zap.String("challenger", version), zap.Float64("sample_rate", s.opts.Rate))
}

// Refused is told of each target of the alias that reload.Watcher refused:
// unresolvable (no such alias), missing, corrupt or failing verification.
// Without a challenger yet, the error is why the shadow is unavailable;
// with one, it keeps scoring.
func (s *Scorer) Refused(version string, err error) {
	if c := s.challenger.Load(); c != nil {
		s.log.Warn("shadow model reload refused; the current challenger keeps scoring", zap.String("alias", s.opts.Alias),
			zap.String("challenger", c.version), zap.String("target", version), zap.Error(err))
		return
	}
	reason := err.Error()
	s.reason.Store(&reason)
	s.log.Warn("shadow scoring unavailable; the served model is not affected", zap.String("alias", s.opts.Alias),
		zap.String("target", version), zap.Error(err))
}

// Start starts the scoring goroutine. Call it once.
func (s *Scorer) Start() {
	if s.started.Swap(true) {
		return
	}
	go s.run()
}

// Close stops accepting records, scores those waiting and stops the
// scoring goroutine.
func (s *Scorer) Close() {
	if s.stopping.Swap(true) || !s.started.Load() {
		return
	}
	close(s.stop)
	<-s.done
}

func (s *Scorer) run() {
	defer close(s.done)
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.drain()
		case <-s.stop:
			s.drain()
			return
		}
	}
}

// drain scores every batch waiting, with the challenger of the moment.
func (s *Scorer) drain() {
	for {
		select {
		case b := <-s.ch:
			s.compare(b)
			s.pending.Add(-int64(len(b.inputs)))
			s.put(b)
		default:
			return
		}
	}
}

// compare scores b with the challenger and adds the differences to the
// pair's statistics.
func (s *Scorer) compare(b *batch) {
	c := s.challenger.Load() // never nil: Offer takes nothing before the first
	now := s.opts.Now().UTC()
	s.mu.Lock()
	p := s.pairLocked(b.champion, c.version, now)
	for i, in := range b.inputs {
		p.add(b.fit[i] - c.model.Predict(in))
	}
	p.last = now
	s.mu.Unlock()
	s.scored.Add(uint64(len(b.inputs)))
}

// maxPairs bounds the pairs of versions kept: the current one, and a few
// before it while their last records drain and scrapes see their final
// counts.
const maxPairs = 4

// pairLocked returns the statistics of champion against challenger,
// starting them when new, and makes them the most recent.
func (s *Scorer) pairLocked(champion, challenger string, now time.Time) *pair {
	for i, p := range s.pairs {
		if p.champion == champion && p.challenger == challenger {
			if i != len(s.pairs)-1 {
				s.pairs = append(append(s.pairs[:i:i], s.pairs[i+1:]...), p)
			}
			return p
		}
	}
	p := &pair{champion: champion, challenger: challenger, first: now, buckets: make([]uint64, len(Buckets)+1)}
	if len(s.pairs) == maxPairs {
		s.pairs = append(s.pairs[:0:0], s.pairs[1:]...)
	}
	s.pairs = append(s.pairs, p)
	return p
}

// Stats are the Scorer's counts so far, over every pair.
type Stats struct {
	Scored  uint64 // records scored by the challenger and compared
	Dropped uint64 // sampled records not scored: the queue was full
}

// Stats returns the counts so far.
func (s *Scorer) Stats() Stats {
	return Stats{Scored: s.scored.Load(), Dropped: s.dropped.Load()}
}

// Rate is the configured sampling rate.
func (s *Scorer) Rate() float64 { return s.opts.Rate }

// Alias is the alias the challenger follows.
func (s *Scorer) Alias() string { return s.opts.Alias }
