package web

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"

	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// Chart file names of the data-only charts.
const (
	chartScatter = "explore-scatter.svg"
	chartMass    = "explore-mass.svg"
)

// buildExplore computes the Explore page's content and charts from the
// data. It runs once at start-up: the data is embedded and never changes.
func buildExplore(rows []penguins.Penguin) (views.Explore, map[string][]byte, error) {
	v := views.Explore{Rows: len(rows), Complete: len(rows)}
	for _, m := range penguins.Measures {
		v.Measures = append(v.Measures, m.Label)
	}
	for _, g := range penguins.Summarize(rows) {
		r := views.SummaryRow{Species: g.Species.String(), Sex: g.Sex.String(), Rows: g.Rows}
		for _, m := range penguins.Measures {
			st := g.Stats[m.Column]
			r.Cells = append(r.Cells, views.StatCell{N: fmt.Sprint(st.N), Mean: fmtStat(st.Mean), SD: fmtStat(st.SD)})
		}
		v.Groups = append(v.Groups, r)
	}
	dropped := penguins.Dropped(rows)
	for reason, n := range dropped {
		v.Dropped = append(v.Dropped, views.DropRow{Reason: reason, Count: n})
		v.Complete -= n
	}
	sort.Slice(v.Dropped, func(i, j int) bool { return v.Dropped[i].Count > v.Dropped[j].Count })

	// Scatter of bill length against body mass with each species' own
	// simple least-squares line, and the mass distribution by species.
	var series, masses []charts.Series
	var lines []charts.Line
	for _, sp := range penguins.AllSpecies {
		s := charts.Series{Name: sp.String()}
		m := charts.Series{Name: sp.String()}
		var xs, ys []float64
		for _, p := range rows {
			if p.Species != sp {
				continue
			}
			if p.BodyMassG.Valid {
				m.Points = append(m.Points, charts.Point{Y: p.BodyMassG.Float64})
			}
			if p.BillLengthMM.Valid && p.BodyMassG.Valid {
				s.Points = append(s.Points, charts.Point{X: p.BillLengthMM.Float64, Y: p.BodyMassG.Float64})
				xs, ys = append(xs, p.BillLengthMM.Float64), append(ys, p.BodyMassG.Float64)
			}
		}
		alpha, beta := stat.LinearRegression(xs, ys, nil, false)
		lo, hi := minMax(xs)
		series, masses = append(series, s), append(masses, m)
		lines = append(lines, charts.Line{Name: sp.String(), Intercept: alpha, Slope: beta, XMin: lo, XMax: hi})
	}
	scatter, err := charts.Scatter("Bill length and body mass by species", "Bill length (mm)", "Body mass (g)", series, lines)
	if err != nil {
		return v, nil, err
	}
	dist, err := charts.Distribution("Body mass by species", "Body mass (g)", masses)
	if err != nil {
		return v, nil, err
	}
	v.Scatter = views.Chart{Src: chartScatter, Alt: "Scatter plot of body mass (g) against bill length (mm), coloured by species, with each species' least-squares line. Gentoo penguins are heaviest; within each species mass rises with bill length."}
	v.Distribution = views.Chart{Src: chartMass, Alt: "Box plots of body mass (g) by species: Adelie and Chinstrap are similar, around 3,700 g; Gentoo are heavier, around 5,000 g."}
	return v, map[string][]byte{chartScatter: scatter, chartMass: dist}, nil
}

func fmtStat(x float64) string {
	if math.IsNaN(x) {
		return "NA"
	}
	return fmt.Sprintf("%.2f", x)
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}
