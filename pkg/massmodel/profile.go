package massmodel

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/palmerops/penguins/pkg/penguins"
)

// ProfileBins is how many bins a numeric feature of the reference profile
// has: its training deciles are the edges.
const ProfileBins = 10

// Profile is the reference the live inputs are compared with: how the rows
// a model was fitted to are spread over bins of each input and of the
// model's prediction for them.
type Profile struct {
	BillLength NumericProfile     `json:"bill_length_mm"`
	Species    CategoricalProfile `json:"species"`
	Sex        CategoricalProfile `json:"sex"`
	Prediction NumericProfile     `json:"prediction"`
}

// NumericProfile bins a number at Edges, ascending and distinct: bin 0 is
// below Edges[0], bin i is [Edges[i-1], Edges[i]), the last bin is from the
// last edge up. Shares has one entry per bin and sums to 1.
type NumericProfile struct {
	Edges  []float64 `json:"edges"`
	Shares []float64 `json:"shares"`
}

// Bin returns the bin x falls in.
func (p *NumericProfile) Bin(x float64) int {
	return sort.Search(len(p.Edges), func(i int) bool { return p.Edges[i] > x })
}

// CategoricalProfile gives the share of each level, in Levels order.
type CategoricalProfile struct {
	Levels []string  `json:"levels"`
	Shares []float64 `json:"shares"`
}

// NewProfile builds the profile of rows fitted by m: bill length and the
// prediction in ProfileBins bins at their deciles (ties merge bins), and
// the share of each species and sex.
func NewProfile(rows []Observation, m *Model) (*Profile, error) {
	if len(rows) == 0 {
		return nil, errors.New("profile of no rows")
	}
	bills := make([]float64, len(rows))
	preds := make([]float64, len(rows))
	species := make([]int, len(rows))
	sexes := make([]int, len(rows))
	for i, r := range rows {
		in, err := parseInput(r.BillLengthMM, r.Species, r.Sex)
		if err != nil {
			return nil, fmt.Errorf("profile row %d: %w", i, err)
		}
		bills[i], preds[i] = in.BillLengthMM, m.Predict(in)
		species[i], sexes[i] = slices.Index(penguins.AllSpecies, in.Species), slices.Index(penguins.AllSexes, in.Sex)
	}
	return &Profile{
		BillLength: numericProfile(bills),
		Species:    categoricalProfile(penguins.SpeciesNames(), species),
		Sex:        categoricalProfile(penguins.SexNames(), sexes),
		Prediction: numericProfile(preds),
	}, nil
}

func numericProfile(xs []float64) NumericProfile {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	var p NumericProfile
	for k := 1; k < ProfileBins; k++ {
		e := quantile(sorted, float64(k)/ProfileBins)
		if len(p.Edges) == 0 || e > p.Edges[len(p.Edges)-1] {
			p.Edges = append(p.Edges, e)
		}
	}
	p.Shares = make([]float64, len(p.Edges)+1)
	for _, x := range xs {
		p.Shares[p.Bin(x)]++
	}
	for i := range p.Shares {
		p.Shares[i] /= float64(len(xs))
	}
	return p
}

// quantile is R's default (type 7) quantile of sorted at q.
func quantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

func categoricalProfile(levels []string, idx []int) CategoricalProfile {
	p := CategoricalProfile{Levels: levels, Shares: make([]float64, len(levels))}
	for _, i := range idx {
		p.Shares[i]++
	}
	for i := range p.Shares {
		p.Shares[i] /= float64(len(idx))
	}
	return p
}

// check reports whether p is well formed: edges ascending and distinct,
// one share per bin, shares finite, non-negative and summing to 1.
func (p *Profile) check() error {
	for name, n := range map[string]*NumericProfile{"bill_length_mm": &p.BillLength, "prediction": &p.Prediction} {
		if len(n.Edges) == 0 || len(n.Edges) >= ProfileBins || len(n.Shares) != len(n.Edges)+1 {
			return fmt.Errorf("profile %s: %d edges and %d shares", name, len(n.Edges), len(n.Shares))
		}
		for i := 1; i < len(n.Edges); i++ {
			if !(n.Edges[i] > n.Edges[i-1]) {
				return fmt.Errorf("profile %s: edges not ascending", name)
			}
		}
		if err := checkShares(name, n.Shares); err != nil {
			return err
		}
	}
	for name, c := range map[string]*CategoricalProfile{"species": &p.Species, "sex": &p.Sex} {
		if len(c.Levels) == 0 || len(c.Shares) != len(c.Levels) {
			return fmt.Errorf("profile %s: %d levels and %d shares", name, len(c.Levels), len(c.Shares))
		}
		if err := checkShares(name, c.Shares); err != nil {
			return err
		}
	}
	return nil
}

func checkShares(name string, shares []float64) error {
	sum := 0.0
	for _, s := range shares {
		if !finite(s) || s < 0 {
			return fmt.Errorf("profile %s: share %v", name, s)
		}
		sum += s
	}
	if math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("profile %s: shares sum to %v", name, sum)
	}
	return nil
}

// ErrNoProfile means no reference profile is at hand for an artifact.
var ErrNoProfile = errors.New("reference profile unavailable")

// ReferenceProfile returns a's reference profile: its own, or for an
// artifact that predates stored profiles, one rebuilt from the rows it was
// fitted to, d, as Diagnose found them (derr is Diagnose's error when it
// found none). Otherwise the error wraps ErrNoProfile and says why.
func ReferenceProfile(a *Artifact, m *Model, d *Diagnostics, derr error) (*Profile, error) {
	if a.Profile != nil {
		return a.Profile, nil
	}
	if derr != nil {
		return nil, fmt.Errorf("%w: the artifact predates stored profiles, and its training rows are not at hand: %v", ErrNoProfile, derr)
	}
	obs := make([]Observation, len(d.Rows))
	for i, r := range d.Rows {
		obs[i] = r.Observation
	}
	p, err := NewProfile(obs, m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProfile, err)
	}
	return p, nil
}

// equal reports whether p and q hold the same bins and shares (to rounding).
func (p *Profile) equal(q *Profile) bool {
	return closeTo(p.BillLength.Edges, q.BillLength.Edges) && closeTo(p.BillLength.Shares, q.BillLength.Shares) &&
		closeTo(p.Prediction.Edges, q.Prediction.Edges) && closeTo(p.Prediction.Shares, q.Prediction.Shares) &&
		slices.Equal(p.Species.Levels, q.Species.Levels) && closeTo(p.Species.Shares, q.Species.Shares) &&
		slices.Equal(p.Sex.Levels, q.Sex.Levels) && closeTo(p.Sex.Shares, q.Sex.Shares)
}

func closeTo(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}
