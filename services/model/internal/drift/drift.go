// Package drift compares the records a model scores with the data it was
// trained on: a window of the last N scored records, binned as the model's
// reference profile bins its training rows, and the population stability
// index (PSI) of each input and of the prediction against that reference.
//
// Recording a record is O(1) and takes no lock: a few atomic operations on
// a ring of packed records and on per-bin counts. Everything else (shares,
// PSI, statuses) is computed when asked for, off the request path.
package drift

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// Status thresholds on the PSI: the usual rule of thumb.
const (
	WarnPSI  = 0.1
	AlertPSI = 0.25
	// shareFloor stands in for an empty bin's share, so that the PSI stays
	// finite.
	shareFloor = 1e-4
	// MaxWindow bounds the window (8 bytes a record).
	MaxWindow = 10_000_000
)

// Features, in the order of reports and metrics.
var Features = []string{"bill_length_mm", "species", "sex", "prediction"}

const (
	fBill = iota
	fSpecies
	fSex
	fPrediction
	nFeatures
)

// A packed record: time in milliseconds since the Unix epoch in the high
// bits, then a valid bit, then the record's extrapolation reasons (a
// massmodel.Extrapolation, 3 bits), then the four bins (4 bits each).
const (
	binBits       = 4
	reasonShift   = nFeatures * binBits
	reasonBits    = 3
	validBit      = 1 << (reasonShift + reasonBits)
	timeShift     = reasonShift + reasonBits + 1
	reasonsInMask = 1<<reasonBits - 1
)

// Tracker is the window of one served model. It is safe for concurrent use.
type Tracker struct {
	ref         *massmodel.Profile
	size, min   int
	resetAt     time.Time
	resetReason string

	pos    atomic.Uint64   // records ever added
	slots  []atomic.Uint64 // the ring
	counts [nFeatures][]atomic.Int64
	// Records in the window that are extrapolations: for any reason, and
	// for each (in the order of massmodel.Reasons).
	extrapolated         atomic.Int64
	extrapolatedByReason [reasonBits]atomic.Int64

	mu     sync.Mutex // serialises Report's status bookkeeping
	status [nFeatures]string
}

// New returns an empty window of size records compared with ref; a feature
// needs min records in the window before it has a status. reason says why
// the window starts (now) empty.
func New(ref *massmodel.Profile, size, min int, reason string) (*Tracker, error) {
	if size < 1 || size > MaxWindow {
		return nil, fmt.Errorf("drift window %d: want 1 to %d records", size, MaxWindow)
	}
	if min < 1 || min > size {
		return nil, fmt.Errorf("drift minimum %d: want 1 to the window size, %d", min, size)
	}
	for _, n := range []int{len(ref.BillLength.Shares), len(ref.Species.Shares), len(ref.Sex.Shares), len(ref.Prediction.Shares)} {
		if n > 1<<binBits {
			return nil, fmt.Errorf("drift: a profile feature has %d bins, at most %d fit", n, 1<<binBits)
		}
	}
	t := &Tracker{ref: ref, size: size, min: min, resetAt: time.Now().UTC(), resetReason: reason, slots: make([]atomic.Uint64, size)}
	t.counts[fBill] = make([]atomic.Int64, len(ref.BillLength.Shares))
	t.counts[fSpecies] = make([]atomic.Int64, len(ref.Species.Shares))
	t.counts[fSex] = make([]atomic.Int64, len(ref.Sex.Shares))
	t.counts[fPrediction] = make([]atomic.Int64, len(ref.Prediction.Shares))
	for i := range t.status {
		t.status[i] = modelapi.DriftInsufficient
	}
	return t, nil
}

// Add records the scored inputs, their predictions and why each is an
// extrapolation (same length; nil for none) at now. Of a batch larger than
// the window only the last records count: the others would leave it at
// once.
func (t *Tracker) Add(inputs []massmodel.Input, predictions []float64, extrapolation []massmodel.Extrapolation, now time.Time) {
	if len(inputs) > t.size {
		skip := len(inputs) - t.size
		inputs, predictions = inputs[skip:], predictions[skip:]
		if extrapolation != nil {
			extrapolation = extrapolation[skip:]
		}
	}
	stamp := uint64(now.UnixMilli()) << timeShift
	for i, in := range inputs {
		rec := stamp | validBit | t.pack(in, predictions[i])
		if extrapolation != nil {
			rec |= uint64(extrapolation[i]&reasonsInMask) << reasonShift
		}
		t.add(rec)
	}
}

func (t *Tracker) pack(in massmodel.Input, prediction float64) uint64 {
	bins := [nFeatures]int{
		t.ref.BillLength.Bin(in.BillLengthMM),
		speciesIndex(in.Species),
		sexIndex(in.Sex),
		t.ref.Prediction.Bin(prediction),
	}
	var p uint64
	for f, b := range bins {
		p |= uint64(b) << (f * binBits)
	}
	return p
}

func speciesIndex(s penguins.Species) int { return slices.Index(penguins.AllSpecies, s) }
func sexIndex(s penguins.Sex) int         { return slices.Index(penguins.AllSexes, s) }

func (t *Tracker) add(rec uint64) {
	i := (t.pos.Add(1) - 1) % uint64(t.size)
	old := t.slots[i].Swap(rec)
	if old&validBit != 0 {
		t.count(old, -1)
	}
	t.count(rec, 1)
}

func (t *Tracker) count(rec uint64, delta int64) {
	for f := range nFeatures {
		b := int(rec>>(f*binBits)) & (1<<binBits - 1)
		if b < len(t.counts[f]) {
			t.counts[f][b].Add(delta)
		}
	}
	if e := rec >> reasonShift & reasonsInMask; e != 0 {
		t.extrapolated.Add(delta)
		for i := range reasonBits {
			if e&(1<<i) != 0 {
				t.extrapolatedByReason[i].Add(delta)
			}
		}
	}
}

// Change is a feature whose status changed since the last Report.
type Change struct {
	Feature  string
	From, To string
	PSI      float64 // 0 while insufficient
}

// Report computes every feature's PSI and status over the window now, in
// the API's terms, and the features whose status changed since the last
// Report (each change is reported once).
func (t *Tracker) Report() (modelapi.DriftWindow, []modelapi.FeatureDrift, []Change) {
	var shares [nFeatures][]float64
	records := 0
	for f := range nFeatures {
		n := int64(0)
		shares[f] = make([]float64, len(t.counts[f]))
		for b := range t.counts[f] {
			c := t.counts[f][b].Load()
			shares[f][b] = float64(c)
			n += c
		}
		for b := range shares[f] {
			if n > 0 {
				shares[f][b] /= float64(n)
			}
		}
		if f == 0 {
			records = int(n)
		}
	}
	window := modelapi.DriftWindow{Size: t.size, Records: records, ResetAt: t.resetAt, ResetReason: t.resetReason,
		Extrapolated: &modelapi.DriftExtrapolation{ByReason: map[string]float64{}}}
	share := func(n int64) float64 {
		if records == 0 {
			return 0
		}
		// The counts are read one by one while records arrive: keep a
		// share a racing read could push past 1 within bounds.
		return min(1, max(0, float64(n)/float64(records)))
	}
	window.Extrapolated.Share = share(t.extrapolated.Load())
	for i, r := range massmodel.Reasons {
		window.Extrapolated.ByReason[r.String()] = share(t.extrapolatedByReason[i].Load())
	}
	if records > 0 {
		newest, oldest := t.times()
		window.Newest, window.Oldest = &newest, &oldest
	}

	refs := [nFeatures][]float64{t.ref.BillLength.Shares, t.ref.Species.Shares, t.ref.Sex.Shares, t.ref.Prediction.Shares}
	features := make([]modelapi.FeatureDrift, nFeatures)
	for f := range nFeatures {
		fd := modelapi.FeatureDrift{Feature: Features[f], Kind: "numeric", Status: modelapi.DriftInsufficient, Bins: t.bins(f, refs[f], shares[f])}
		if f == fSpecies || f == fSex {
			fd.Kind = "categorical"
		}
		if records >= t.min {
			psi := PSI(refs[f], shares[f])
			fd.PSI = &psi
			fd.Status = status(psi)
		}
		features[f] = fd
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	var changes []Change
	for f, fd := range features {
		if fd.Status != t.status[f] {
			c := Change{Feature: fd.Feature, From: t.status[f], To: fd.Status}
			if fd.PSI != nil {
				c.PSI = *fd.PSI
			}
			changes = append(changes, c)
			t.status[f] = fd.Status
		}
	}
	return window, features, changes
}

// times returns the newest and oldest record times in the window.
func (t *Tracker) times() (newest, oldest time.Time) {
	pos := t.pos.Load()
	at := func(i uint64) time.Time {
		return time.UnixMilli(int64(t.slots[i%uint64(t.size)].Load() >> timeShift)).UTC()
	}
	newest = at(pos - 1)
	if pos <= uint64(t.size) {
		return newest, at(0)
	}
	return newest, at(pos) // the next slot to be overwritten holds the oldest
}

func (t *Tracker) bins(f int, ref, cur []float64) []modelapi.DriftBin {
	out := make([]modelapi.DriftBin, len(ref))
	var edges []float64
	var levels []string
	switch f {
	case fBill:
		edges = t.ref.BillLength.Edges
	case fPrediction:
		edges = t.ref.Prediction.Edges
	case fSpecies:
		levels = t.ref.Species.Levels
	case fSex:
		levels = t.ref.Sex.Levels
	}
	for b := range out {
		out[b] = modelapi.DriftBin{Reference: ref[b], Current: cur[b]}
		if levels != nil {
			out[b].Label = levels[b]
			continue
		}
		g := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
		switch {
		case b == 0:
			out[b].Upper = &edges[0]
			out[b].Label = "< " + g(edges[0])
		case b == len(edges):
			out[b].Lower = &edges[b-1]
			out[b].Label = "≥ " + g(edges[b-1])
		default:
			out[b].Lower, out[b].Upper = &edges[b-1], &edges[b]
			out[b].Label = "[" + g(edges[b-1]) + ", " + g(edges[b]) + ")"
		}
	}
	return out
}

// PSI is the population stability index of cur against ref (shares of the
// same bins): Σ (cur − ref) · ln(cur / ref), each share floored at 1e-4 so
// that an empty bin costs a large but finite amount.
func PSI(ref, cur []float64) float64 {
	psi := 0.0
	for i := range ref {
		r, c := max(ref[i], shareFloor), max(cur[i], shareFloor)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}

func status(psi float64) string {
	switch {
	case psi >= AlertPSI:
		return modelapi.DriftAlert
	case psi >= WarnPSI:
		return modelapi.DriftWarn
	}
	return modelapi.DriftOK
}
