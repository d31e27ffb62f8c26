package charts

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var samples = flag.String("samples", "", "write each sample chart as DIR/NAME.svg")

// penguins returns seeded, Palmer-like data: bill length (mm) against body
// mass (g), with the species' sizes of the complete cases (333 in all).
func penguins() ([]Series, []Line) {
	r := rand.New(rand.NewPCG(1, 2))
	specs := []struct {
		name             string
		n                int
		bill, sd, mass   float64
		slope, massNoise float64
	}{
		{"Adelie", 146, 38.8, 2.7, 3706, 90, 400},
		{"Chinstrap", 68, 48.8, 3.3, 3733, 60, 340},
		{"Gentoo", 119, 47.6, 3.1, 5092, 110, 400},
	}
	var series []Series
	var lines []Line
	for _, s := range specs {
		pts := make([]Point, s.n)
		for i := range pts {
			x := s.bill + s.sd*r.NormFloat64()
			pts[i] = Point{X: math.Round(x*10) / 10, Y: math.Round(s.mass + s.slope*(x-s.bill) + s.massNoise*r.NormFloat64())}
		}
		series = append(series, Series{Name: s.name, Points: pts})
		xs := make([]float64, s.n)
		for i, p := range pts {
			xs[i] = p.X
		}
		lines = append(lines, Line{
			Name: s.name, Intercept: s.mass - s.slope*s.bill, Slope: s.slope,
			XMin: slices.Min(xs), XMax: slices.Max(xs),
		})
	}
	return series, lines
}

// residualSeries turns the sample into (fitted, residual) pairs of the
// species' own lines.
func residualSeries() []Series {
	series, lines := penguins()
	out := make([]Series, len(series))
	for i, s := range series {
		out[i] = Series{Name: s.Name, Points: make([]Point, len(s.Points))}
		for j, p := range s.Points {
			fit := lines[i].Intercept + lines[i].Slope*p.X
			out[i].Points[j] = Point{X: fit, Y: p.Y - fit}
		}
	}
	return out
}

func predictedObserved() []Series {
	res := residualSeries()
	for _, s := range res {
		for j, p := range s.Points {
			s.Points[j] = Point{X: p.X, Y: p.X + p.Y}
		}
	}
	return res
}

// bySex regroups series into "female" and "male" by alternating points,
// to show names outside the species palette.
func bySex(series []Series) []Series {
	out := []Series{{Name: "female"}, {Name: "male"}}
	for _, s := range series {
		for i, p := range s.Points {
			out[i%2].Points = append(out[i%2].Points, p)
		}
	}
	return out
}

// billShares are deciles of bill length with a window of mostly one bin,
// as the model service reports them.
func billShares() []Share {
	edges := []string{"< 36.6", "[36.6, 38.6)", "[38.6, 40.26)", "[40.26, 42)", "[42, 44.5)", "[44.5, 46.1)", "[46.1, 47.5)", "[47.5, 49.5)", "[49.5, 50.8)", "≥ 50.8"}
	ref := []float64{0.099, 0.099, 0.102, 0.096, 0.102, 0.099, 0.096, 0.102, 0.096, 0.108}
	cur := []float64{0, 0, 0.533, 0.033, 0.1, 0.067, 0.033, 0.067, 0.033, 0.133}
	out := make([]Share, len(edges))
	for i := range edges {
		out[i] = Share{Label: edges[i], Reference: ref[i], Current: cur[i]}
	}
	return out
}

// differenceCounts are |champion − challenger| by bucket, as the model
// service's shadow reports them.
func differenceCounts() []Count {
	return []Count{{"≤ 1", 50}, {"1–2", 30}, {"2–5", 20}, {"> 5", 0}}
}

func curve() []CurvePoint {
	var c []CurvePoint
	for x := 32.0; x <= 60; x += 0.5 {
		y := 3706 + 90*(x-38.8)
		half := 780 + 0.9*(x-45)*(x-45)
		c = append(c, CurvePoint{X: x, Y: y, Lower: y - half, Upper: y + half})
	}
	return c
}

// extrapolatedCurve is curve with the points beyond 46 flagged, as the
// model API flags a 55 mm Adelie's.
func extrapolatedCurve() []CurvePoint {
	c := curve()
	for i := range c {
		c[i].Extrapolated = c[i].X > 46
	}
	return c
}

type chart struct {
	name  string
	title string
	desc  string // a prefix of the wanted <desc>
	draw  func() ([]byte, error)
}

func charts() []chart {
	series, lines := penguins()
	return []chart{
		{"scatter", "Body mass by bill length",
			"Scatter plot of body mass (g) against bill length (mm) for 333 observations in 3 groups: Adelie (n=146), Chinstrap (n=68), Gentoo (n=119); straight lines",
			func() ([]byte, error) {
				return Scatter("Body mass by bill length", "Bill length (mm)", "Body mass (g)", series, lines)
			}},
		{"distribution", "Body mass by species",
			"Box plots of body mass (g) for 333 observations in 3 groups: Adelie (n=146, median ",
			func() ([]byte, error) { return Distribution("Body mass by species", "Body mass (g)", series) }},
		{"residuals", "Residuals & fitted values",
			"Residuals (g) against fitted body mass (g) for 333 observations in 3 groups: Adelie (n=146)",
			func() ([]byte, error) { return Residuals("Residuals & fitted values", residualSeries()) }},
		{"predicted-observed", "Predicted vs observed",
			"Observed against predicted body mass (g) for 333 observations in 3 groups:",
			func() ([]byte, error) { return PredictedObserved("Predicted vs observed", predictedObserved()) }},
		{"distribution-by-sex", "Body mass by sex",
			"Box plots of body mass (g) for 333 observations in 2 groups: female (n=",
			func() ([]byte, error) { return Distribution("Body mass by sex", "Body mass (g)", bySex(series)) }},
		{"residuals-by-sex", "Residuals by sex",
			"Residuals (g) against fitted body mass (g) for 333 observations in 2 groups: female (n=",
			func() ([]byte, error) { return Residuals("Residuals by sex", bySex(residualSeries())) }},
		{"curve", "Predicted body mass, Adelie female",
			"Prediction curve of body mass (g) against bill length (mm) from 32 to 60 with a shaded 95% prediction band; Your penguin is marked at bill length (mm) 45.3, body mass (g) 4264.",
			func() ([]byte, error) {
				return PredictionCurve("Predicted body mass, Adelie female", "Bill length (mm)", "Body mass (g)",
					curve(), Point{X: 45.3, Y: 4264}, "Your penguin", nil)
			}},
		{"curve-extrapolated", "Predicted body mass, Adelie male",
			"Prediction curve of body mass (g) against bill length (mm) from 32 to 60 with a shaded 95% prediction band; Your penguin is marked at bill length (mm) 55, body mass (g) 5300; " +
				"Adelie training range, 32.1 to 46, is shaded; the curve is dashed where it is an extrapolation, between 46 and 60.",
			func() ([]byte, error) {
				return PredictionCurve("Predicted body mass, Adelie male", "Bill length (mm)", "Body mass (g)",
					extrapolatedCurve(), Point{X: 55, Y: 5300}, "Your penguin", &Span{Name: "Adelie training range", From: 32.1, To: 46})
			}},
		{"shares", "Bill length: training data and recent records",
			"Bar chart of the share of records in each of 10 bins of bill length (mm), training data against last 60 records: < 36.6: 9.9% against 0.0%; [36.6, 38.6): 9.9% against 0.0%; [38.6, 40.26): 10.2% against 53.3%;",
			func() ([]byte, error) {
				return Shares("Bill length: training data and recent records", "Bill length (mm)", "Training data", "Last 60 records", billShares())
			}},
		{"shares-categories", "Species",
			"Bar chart of the share of records in each of 3 bins of species, training data against last 60 records: Adelie: 43.8% against 50.0%; Chinstrap: 20.4% against 0.0%; Gentoo: 35.7% against 50.0%.",
			func() ([]byte, error) {
				return Shares("Species", "Species", "Training data", "Last 60 records", []Share{
					{"Adelie", 0.438, 0.5}, {"Chinstrap", 0.204, 0}, {"Gentoo", 0.357, 0.5},
				})
			}},
		{"periods", "RMSE by year",
			"Line chart of RMSE (g) in 3 periods: 2007 (n=103): 310.2; 2008 (n=113): 285.7; 2009 (n=117): 301.95; a dashed line marks training data (n=333) at 296.4.",
			func() ([]byte, error) {
				return Periods("RMSE by year", "RMSE (g)", rmseByYear(), &Reference{Name: "Training data (n=333)", Value: 296.4})
			}},
		{"periods-one", "R² by year",
			"Line chart of R² in 1 period: 2007 (n=103): 0.872.",
			func() ([]byte, error) { return Periods("R² by year", "R²", []PeriodValue{{"2007", 103, 0.872}}, nil) }},
		{"counts", "|Champion − challenger|",
			"Bar chart of records in each of 4 bins of |Difference| (g), 100 in all: ≤ 1: 50 (50.0%); 1–2: 30 (30.0%); 2–5: 20 (20.0%); > 5: 0 (0.0%).",
			func() ([]byte, error) {
				return Counts("|Champion − challenger|", "|Difference| (g)", "Records", differenceCounts())
			}},
		{"counts-empty", "Nothing compared yet",
			"Bar chart of records in each of 2 bins of |Difference| (g), 0 in all: ≤ 1: 0 (0.0%); > 1: 0 (0.0%).",
			func() ([]byte, error) {
				return Counts("Nothing compared yet", "|Difference| (g)", "Records", []Count{{"≤ 1", 0}, {"> 1", 0}})
			}},
		{"shares-empty", "Sex, no records yet",
			"Bar chart of the share of records in each of 2 bins of sex, training data against last 0 records: female: 49.5% against 0.0%; male: 50.5% against 0.0%.",
			func() ([]byte, error) {
				return Shares("Sex, no records yet", "Sex", "Training data", "Last 0 records", []Share{{"female", 0.495, 0}, {"male", 0.505, 0}})
			}},
	}
}

func TestChartsAreAccessibleSVG(t *testing.T) {
	for _, c := range charts() {
		t.Run(c.name, func(t *testing.T) {
			svg, err := c.draw()
			if err != nil {
				t.Fatal(err)
			}
			root, children := parse(t, svg)
			if root.Name.Local != "svg" {
				t.Fatalf("root is <%s>, want <svg>", root.Name.Local)
			}
			if got := attr(root, "role"); got != "img" {
				t.Errorf(`root role = %q, want "img"`, got)
			}
			if attr(root, "viewBox") == "" {
				t.Error("root has no viewBox, so the chart would not scale")
			}
			if len(children) < 2 || children[0].name != "title" || children[1].name != "desc" {
				t.Fatalf("first children = %v, want title then desc", children[:min(2, len(children))])
			}
			if children[0].text != c.title {
				t.Errorf("title = %q, want %q", children[0].text, c.title)
			}
			if !strings.HasPrefix(children[1].text, c.desc) || !strings.HasSuffix(children[1].text, ".") {
				t.Errorf("desc = %q, want a sentence starting %q", children[1].text, c.desc)
			}
		})
	}
}

func TestScatterUsesSpeciesColours(t *testing.T) {
	series, lines := penguins()
	svg, err := Scatter("t", "x", "y", series, lines)
	if err != nil {
		t.Fatal(err)
	}
	// gonum v0.17 writes colours as #RRGGBB; older versions wrote rgb(r,g,b).
	for name, c := range map[string]struct{ hex, rgb string }{
		"Adelie":    {"#E69F00", "rgb(230,159,0)"},
		"Chinstrap": {"#56B4E9", "rgb(86,180,233)"},
		"Gentoo":    {"#009E73", "rgb(0,158,115)"},
	} {
		if !bytes.Contains(svg, []byte(c.hex)) && !bytes.Contains(svg, []byte(c.rgb)) {
			t.Errorf("%s colour %s not in the SVG", name, c.hex)
		}
	}
}

// TestPredictionCurveShadesAndDashes: the training range is shaded and in
// the legend, and the curve is dashed exactly where it is extrapolated;
// without either, neither is drawn.
func TestPredictionCurveShadesAndDashes(t *testing.T) {
	plain, err := PredictionCurve("t", "x", "y", curve(), Point{X: 45, Y: 4300}, "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	marked, err := PredictionCurve("t", "x", "y", extrapolatedCurve(), Point{X: 55, Y: 5300}, "p", &Span{Name: "Adelie training range", From: 32.1, To: 46})
	if err != nil {
		t.Fatal(err)
	}
	// gonum writes the translucent shade (the only one) with fill-opacity.
	shade := regexp.MustCompile(`fill="#[0-9A-F]{6}" fill-opacity="0\.25`)
	dash := regexp.MustCompile(`stroke-dasharray="6,4"|stroke-dasharray="6 4"`)
	for name, c := range map[string]struct {
		svg          []byte
		shaded, dash bool
	}{"plain": {plain, false, false}, "marked": {marked, true, true}} {
		if got := shade.Match(c.svg); got != c.shaded {
			t.Errorf("%s: shaded %v, want %v", name, got, c.shaded)
		}
		if got := dash.Match(c.svg); got != c.dash {
			t.Errorf("%s: dashed %v, want %v", name, got, c.dash)
		}
		if got := bytes.Contains(c.svg, []byte("Adelie training range")); got != c.shaded {
			t.Errorf("%s: legend names the range %v, want %v", name, got, c.shaded)
		}
		if got := bytes.Contains(c.svg, []byte("Prediction, extrapolated")); got != c.dash {
			t.Errorf("%s: legend names the extrapolation %v, want %v", name, got, c.dash)
		}
	}
	// One dashed run: from the last point inside (46) to the end.
	if n := len(dash.FindAll(marked, -1)); n != 2 { // the run and its legend thumbnail
		t.Errorf("%d dashed paths, want the run and its legend entry", n)
	}
}

func TestOtherNamesCycleThePalette(t *testing.T) {
	got := stylesFor([]Series{{Name: "Gentoo"}, {Name: "female"}, {Name: "male"}})
	want := []uint32{0x009E73, 0x0072B2, 0xD55E00}
	for i, st := range got {
		if st.colour != rgb(want[i]) {
			t.Errorf("series %d colour = %v, want %06X", i, st.colour, want[i])
		}
	}
	if got[1].shape == got[2].shape {
		t.Error("two other series share a glyph shape")
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	for _, c := range charts() {
		a, errA := c.draw()
		b, errB := c.draw()
		if errA != nil || errB != nil {
			t.Fatal(errors.Join(errA, errB))
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders of the same input differ", c.name)
		}
	}
}

func TestInputIsNotMutated(t *testing.T) {
	series, lines := penguins()
	before, _ := penguins()
	c := curve()
	slices.Reverse(c) // unsorted input, which PredictionCurve must sort on a copy
	cBefore := slices.Clone(c)
	if _, err := Scatter("t", "x", "y", series, lines); err != nil {
		t.Fatal(err)
	}
	if _, err := Distribution("t", "y", series); err != nil {
		t.Fatal(err)
	}
	if _, err := PredictionCurve("t", "x", "y", c, Point{X: 40, Y: 4000}, "p", &Span{Name: "s", From: 35, To: 45}); err != nil {
		t.Fatal(err)
	}
	for i := range series {
		if !slices.Equal(series[i].Points, before[i].Points) {
			t.Errorf("series %q changed", series[i].Name)
		}
	}
	if !slices.Equal(c, cBefore) {
		t.Error("curve changed")
	}
}

func TestBadInput(t *testing.T) {
	ok := []Series{{Name: "Adelie", Points: []Point{{39, 3700}, {40, 3800}}}}
	nan := []Series{{Name: "Adelie", Points: []Point{{39, math.NaN()}}}}
	inf := []Series{{Name: "Adelie", Points: []Point{{math.Inf(1), 3700}}}}
	good := curve()
	tests := map[string]func() ([]byte, error){
		"scatter no series":    func() ([]byte, error) { return Scatter("t", "x", "y", nil, nil) },
		"scatter empty series": func() ([]byte, error) { return Scatter("t", "x", "y", []Series{{Name: "Adelie"}}, nil) },
		"scatter NaN":          func() ([]byte, error) { return Scatter("t", "x", "y", nan, nil) },
		"scatter Inf":          func() ([]byte, error) { return Scatter("t", "x", "y", inf, nil) },
		"scatter no title":     func() ([]byte, error) { return Scatter("", "x", "y", ok, nil) },
		"scatter duplicate": func() ([]byte, error) {
			return Scatter("t", "x", "y", append(slices.Clone(ok), ok...), nil)
		},
		"scatter unnamed": func() ([]byte, error) {
			return Scatter("t", "x", "y", []Series{{Points: ok[0].Points}}, nil)
		},
		"scatter orphan line": func() ([]byte, error) {
			return Scatter("t", "x", "y", ok, []Line{{Name: "Gentoo", XMax: 1}})
		},
		"scatter NaN line": func() ([]byte, error) {
			return Scatter("t", "x", "y", ok, []Line{{Name: "Adelie", Slope: math.NaN(), XMax: 1}})
		},
		"scatter reversed line": func() ([]byte, error) {
			return Scatter("t", "x", "y", ok, []Line{{Name: "Adelie", XMin: 2, XMax: 1}})
		},
		"distribution empty":      func() ([]byte, error) { return Distribution("t", "y", nil) },
		"distribution NaN":        func() ([]byte, error) { return Distribution("t", "y", nan) },
		"residuals empty":         func() ([]byte, error) { return Residuals("t", []Series{}) },
		"residuals Inf":           func() ([]byte, error) { return Residuals("t", inf) },
		"predicted-observed NaN":  func() ([]byte, error) { return PredictedObserved("t", nan) },
		"predicted-observed none": func() ([]byte, error) { return PredictedObserved("t", nil) },
		"curve empty": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", nil, Point{}, "p", nil)
		},
		"curve NaN": func() ([]byte, error) {
			c := slices.Clone(good)
			c[3].Upper = math.NaN()
			return PredictionCurve("t", "x", "y", c, Point{}, "p", nil)
		},
		"curve outside band": func() ([]byte, error) {
			c := slices.Clone(good)
			c[3].Lower = c[3].Y + 1
			return PredictionCurve("t", "x", "y", c, Point{}, "p", nil)
		},
		"curve unnamed span": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", good, Point{X: 40, Y: 4000}, "p", &Span{From: 35, To: 45})
		},
		"curve reversed span": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", good, Point{X: 40, Y: 4000}, "p", &Span{Name: "s", From: 45, To: 35})
		},
		"curve NaN span": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", good, Point{X: 40, Y: 4000}, "p", &Span{Name: "s", From: math.NaN(), To: 35})
		},
		"curve NaN mark": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", good, Point{X: math.NaN()}, "p", nil)
		},
		"shares none":       func() ([]byte, error) { return Shares("t", "x", "a", "b", nil) },
		"shares no title":   func() ([]byte, error) { return Shares("", "x", "a", "b", billShares()) },
		"shares same names": func() ([]byte, error) { return Shares("t", "x", "a", "a", billShares()) },
		"shares no label":   func() ([]byte, error) { return Shares("t", "x", "a", "b", []Share{{Reference: 1, Current: 1}}) },
		"shares duplicate": func() ([]byte, error) {
			return Shares("t", "x", "a", "b", []Share{{"male", 0.5, 0.5}, {"male", 0.5, 0.5}})
		},
		"periods none":       func() ([]byte, error) { return Periods("t", "y", nil, nil) },
		"periods no title":   func() ([]byte, error) { return Periods("", "y", rmseByYear(), nil) },
		"periods no label":   func() ([]byte, error) { return Periods("t", "y", []PeriodValue{{N: 1, Value: 1}}, nil) },
		"periods duplicate":  func() ([]byte, error) { return Periods("t", "y", []PeriodValue{{"2007", 1, 1}, {"2007", 1, 2}}, nil) },
		"periods negative n": func() ([]byte, error) { return Periods("t", "y", []PeriodValue{{"2007", -1, 1}}, nil) },
		"periods NaN":        func() ([]byte, error) { return Periods("t", "y", []PeriodValue{{"2007", 1, math.NaN()}}, nil) },
		"periods Inf reference": func() ([]byte, error) {
			return Periods("t", "y", rmseByYear(), &Reference{Name: "r", Value: math.Inf(1)})
		},
		"periods nameless reference": func() ([]byte, error) { return Periods("t", "y", rmseByYear(), &Reference{Value: 1}) },
		"counts none":                func() ([]byte, error) { return Counts("t", "x", "n", nil) },
		"counts no title":            func() ([]byte, error) { return Counts("", "x", "n", differenceCounts()) },
		"counts no label":            func() ([]byte, error) { return Counts("t", "x", "n", []Count{{N: 1}}) },
		"counts duplicate":           func() ([]byte, error) { return Counts("t", "x", "n", []Count{{"a", 1}, {"a", 2}}) },
		"counts too many":            func() ([]byte, error) { return Counts("t", "x", "n", []Count{{"a", 1<<53 + 1}}) },
		"shares NaN":                 func() ([]byte, error) { return Shares("t", "x", "a", "b", []Share{{"male", math.NaN(), 0}}) },
		"shares negative":            func() ([]byte, error) { return Shares("t", "x", "a", "b", []Share{{"male", 0.5, -0.1}}) },
		"shares over one":            func() ([]byte, error) { return Shares("t", "x", "a", "b", []Share{{"male", 1.5, 0}}) },
	}
	for name, draw := range tests {
		t.Run(name, func(t *testing.T) {
			svg, err := draw()
			if err == nil {
				t.Fatalf("no error; got %d bytes of SVG", len(svg))
			}
			if !strings.HasPrefix(err.Error(), "charts: ") {
				t.Errorf("error %q does not say where it came from", err)
			}
		})
	}
}

func TestEdgeCasesStillDraw(t *testing.T) {
	one := []Series{{Name: "All", Points: []Point{{4000, 0}}}} // one point, zero range
	same := []Series{{Name: "Adelie", Points: []Point{{1, 1}, {1, 1}}}, {Name: "<b>&", Points: []Point{{1e9, -1e9}}}}
	huge := []Series{{Name: "huge", Points: []Point{{-math.MaxFloat64, math.MaxFloat64}, {math.MaxFloat64, -math.MaxFloat64}}}}
	for name, draw := range map[string]func() ([]byte, error){
		"scatter one":    func() ([]byte, error) { return Scatter("t", "x", "y", one, nil) },
		"scatter same":   func() ([]byte, error) { return Scatter("a <b> & c", "x", "y", same, nil) },
		"distribution 1": func() ([]byte, error) { return Distribution("t", "y", one) },
		"residuals zero": func() ([]byte, error) { return Residuals("t", one) },
		"pred-obs same":  func() ([]byte, error) { return PredictedObserved("t", same) },
		"scatter huge":   func() ([]byte, error) { return Scatter("t", "x", "y", huge, nil) },
		"residuals huge": func() ([]byte, error) { return Residuals("t", huge) },
		"box huge":       func() ([]byte, error) { return Distribution("t", "y", huge) },
		"curve flat band": func() ([]byte, error) {
			return PredictionCurve("t", "x", "y", []CurvePoint{{X: 0, Y: 1, Lower: 1, Upper: 1}, {X: 0, Y: 1, Lower: 1, Upper: 1}}, Point{}, "", nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			svg, err := draw()
			if err != nil {
				t.Fatal(err)
			}
			parse(t, svg)
		})
	}
}

// TestWriteSamples writes every sample chart to the -samples directory for
// a person to look at: go test -run TestWriteSamples -samples /tmp/charts
func TestWriteSamples(t *testing.T) {
	if *samples == "" {
		t.Skip("no -samples directory")
	}
	if err := os.MkdirAll(*samples, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range charts() {
		svg, err := c.draw()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*samples, c.name+".svg"), svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkScatter(b *testing.B) {
	series, lines := penguins()
	for b.Loop() {
		if _, err := Scatter("Body mass by bill length", "Bill length (mm)", "Body mass (g)", series, lines); err != nil {
			b.Fatal(err)
		}
	}
}

type element struct{ name, text string }

// parse decodes svg to EOF, failing t on any XML error, and returns the root
// element and its child elements with their character data.
func parse(t *testing.T, svg []byte) (xml.StartElement, []element) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var (
		root     xml.StartElement
		children []element
		depth    int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				root = tok.Copy()
			case 2:
				children = append(children, element{name: tok.Name.Local})
			}
		case xml.CharData:
			if depth == 2 {
				children[len(children)-1].text += string(tok)
			}
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("SVG ends %d elements deep", depth)
	}
	return root, children
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestRoundTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{2400, 6350, "3000 4000 5000 6000"},
		{-1230, 1230, "-1000 -500 0 500 1000"},
		{32, 60, "35 40 45 50 55 60"},
		{0, 1.4, "0.00 0.25 0.50 0.75 1.00 1.25"},
		{-0.3, 0.3, "-0.3 -0.2 -0.1 0.0 0.1 0.2 0.3"},
	} {
		var labels []string
		for _, tk := range (roundTicks{}).Ticks(tc.lo, tc.hi) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("Ticks(%v, %v) = %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
	// Ranges that defeat float steps still end.
	for _, r := range [][2]float64{{-math.MaxFloat64, math.MaxFloat64}, {1e17, 1e17 + 16}} {
		if n := len((roundTicks{}).Ticks(r[0], r[1])); n > 20 {
			t.Errorf("Ticks(%v, %v) gave %d ticks", r[0], r[1], n)
		}
	}
}

// TestNoStyleAttributes: the frontend's CSP (style-src 'self') forbids
// style attributes, so every chart must use presentation attributes.
func TestNoStyleAttributes(t *testing.T) {
	pts := []Point{{X: 1, Y: 2}, {X: 2, Y: 3}, {X: 3, Y: 5}}
	svgs := map[string]func() ([]byte, error){
		"scatter": func() ([]byte, error) {
			return Scatter("s", "x (mm)", "y (g)", []Series{{Name: "Adelie", Points: pts}}, []Line{{Name: "Adelie", Slope: 1, XMin: 1, XMax: 3}})
		},
		"distribution": func() ([]byte, error) { return Distribution("d", "y (g)", []Series{{Name: "Gentoo", Points: pts}}) },
		"residuals":    func() ([]byte, error) { return Residuals("r", []Series{{Name: "Adelie", Points: pts}}) },
		"curve": func() ([]byte, error) {
			return PredictionCurve("c", "x", "y", []CurvePoint{{X: 1, Y: 2, Lower: 1, Upper: 3}, {X: 2, Y: 3, Lower: 2, Upper: 4}}, Point{X: 1.5, Y: 2.5}, "m", nil)
		},
		"shares": func() ([]byte, error) { return Shares("s", "x", "a", "b", billShares()) },
		"periods": func() ([]byte, error) {
			return Periods("p", "y", rmseByYear(), &Reference{Name: "r", Value: 300})
		},
	}
	for name, f := range svgs {
		svg, err := f()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if regexp.MustCompile(`\sstyle="`).Match(svg) {
			t.Errorf("%s: has style attributes", name)
		}
		if !bytes.Contains(svg, []byte(`fill="#`)) {
			t.Errorf("%s: no fill attributes", name)
		}
	}
}

// TestSharesBarsMatchTheShares reads the bars back from the SVG: their
// lengths are proportional to the shares, the first bin is at the top, and
// in each bin the reference bar is above the current one.
func TestSharesBarsMatchTheShares(t *testing.T) {
	bins := billShares()
	svg, err := Shares("t", "Bill length (mm)", "Training data", "Recent", bins)
	if err != nil {
		t.Fatal(err)
	}
	type bar struct{ top, length float64 }
	read := func(fill color.RGBA) []bar {
		re := regexp.MustCompile(`<path d="M([-\d.]+),([-\d.]+)L[-\d.]+,([-\d.]+)L([-\d.]+),[-\d.]+L[-\d.]+,[-\d.]+Z" fill="` + hexColour(fill) + `"`)
		var out []bar
		for _, m := range re.FindAllStringSubmatch(string(svg), -1) {
			var f [4]float64
			for i := range f {
				f[i], _ = strconv.ParseFloat(m[i+1], 64)
			}
			// gonum's SVG flips Y: the larger y is the higher bar.
			out = append(out, bar{top: max(f[1], f[2]), length: f[3] - f[0]})
		}
		if len(out) != len(bins)+1 {
			t.Fatalf("%d bars of %s, want %d and the legend's", len(out), hexColour(fill), len(bins))
		}
		out = out[:len(bins)]                                                         // the last is the legend's thumbnail
		slices.SortFunc(out, func(a, b bar) int { return cmp.Compare(b.top, a.top) }) // top first
		return out
	}
	ref, cur := read(referenceFill), read(currentFill)
	scale := ref[0].length / bins[0].Reference
	for k, b := range bins {
		for _, c := range []struct {
			name  string
			got   float64
			share float64
		}{{"reference", ref[k].length, b.Reference}, {"current", cur[k].length, b.Current}} {
			if math.Abs(c.got-c.share*scale) > 0.01 {
				t.Errorf("bin %d %q: %s bar %.2f pt long, want %.2f for %v", k, b.Label, c.name, c.got, c.share*scale, c.share)
			}
		}
		if ref[k].top <= cur[k].top {
			t.Errorf("bin %q: the reference bar is not above the current one", b.Label)
		}
		if k > 0 && ref[k].top >= cur[k-1].top {
			t.Errorf("bin %q is not below bin %q", b.Label, bins[k-1].Label)
		}
	}
}

func TestCountsBarsMatchTheCounts(t *testing.T) {
	bins := differenceCounts()
	svg, err := Counts("t", "|Difference| (g)", "Records", bins)
	if err != nil {
		t.Fatal(err)
	}
	type bar struct{ top, length float64 }
	re := regexp.MustCompile(`<path d="M([-\d.]+),([-\d.]+)L[-\d.]+,([-\d.]+)L([-\d.]+),[-\d.]+L[-\d.]+,[-\d.]+Z" fill="` + hexColour(currentFill) + `"`)
	var got []bar
	for _, m := range re.FindAllStringSubmatch(string(svg), -1) {
		var f [4]float64
		for i := range f {
			f[i], _ = strconv.ParseFloat(m[i+1], 64)
		}
		got = append(got, bar{top: max(f[1], f[2]), length: f[3] - f[0]})
	}
	if len(got) != len(bins) {
		t.Fatalf("%d bars, want %d", len(got), len(bins))
	}
	slices.SortFunc(got, func(a, b bar) int { return cmp.Compare(b.top, a.top) }) // top first
	scale := got[0].length / float64(bins[0].N)
	for k, b := range bins {
		if want := float64(b.N) * scale; math.Abs(got[k].length-want) > 0.01 {
			t.Errorf("bin %q: bar %.2f pt long, want %.2f for %d", b.Label, got[k].length, want, b.N)
		}
	}
}

func hexColour(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }
