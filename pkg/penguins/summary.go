package penguins

import (
	"math"
	"sort"
)

// Stat is the count, mean and sample standard deviation of the recorded
// (non-NA) values of one measurement. SD is NaN when N < 2.
type Stat struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// Group is the summary of one species × sex cell.
type Group struct {
	Species Species
	Sex     Sex // SexNA is its own group, as in R's group_by
	Rows    int
	Stats   map[string]Stat // keyed by Measure.Column
}

// Summarize returns one Group per species × sex present in rows, ordered by
// species then sex (female, male, NA).
func Summarize(rows []Penguin) []Group {
	type key struct {
		s   Species
		sex Sex
	}
	cells := map[key][]Penguin{}
	for _, p := range rows {
		k := key{p.Species, p.Sex}
		cells[k] = append(cells[k], p)
	}
	sexOrder := func(s Sex) int {
		if s == SexNA {
			return 3
		}
		return int(s)
	}
	keys := make([]key, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].s != keys[j].s {
			return keys[i].s < keys[j].s
		}
		return sexOrder(keys[i].sex) < sexOrder(keys[j].sex)
	})
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := Group{Species: k.s, Sex: k.sex, Rows: len(cells[k]), Stats: map[string]Stat{}}
		for _, m := range Measures {
			var xs []float64
			for _, p := range cells[k] {
				if v := m.Get(p); v.Valid {
					xs = append(xs, v.Float64)
				}
			}
			g.Stats[m.Column] = Describe(xs)
		}
		out = append(out, g)
	}
	return out
}

// Describe returns the count, mean and sample (n-1) standard deviation of xs,
// using Welford's update for numerical stability.
func Describe(xs []float64) Stat {
	var mean, m2 float64
	for i, x := range xs {
		d := x - mean
		mean += d / float64(i+1)
		m2 += d * (x - mean)
	}
	st := Stat{N: len(xs), Mean: mean, SD: math.NaN()}
	if len(xs) == 0 {
		st.Mean = math.NaN()
	}
	if len(xs) > 1 {
		st.SD = math.Sqrt(m2 / float64(len(xs)-1))
	}
	return st
}

// Dropped counts rows that are not complete cases for the model, by reason
// (e.g. "missing sex" or "missing bill_length_mm, body_mass_g, sex").
func Dropped(rows []Penguin) map[string]int {
	out := map[string]int{}
	for _, p := range rows {
		if miss := p.MissingFields(); len(miss) > 0 {
			out[DropReason(miss)]++
		}
	}
	return out
}
