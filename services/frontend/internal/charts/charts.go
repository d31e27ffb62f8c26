// Package charts draws the web app's charts as SVG on the server.
//
// Every function takes plain data, validates it (no empty series, no NaN or
// infinite values) and returns a complete SVG document that scales when shown
// through <img>. The same input always gives byte-identical output, so callers
// may cache by input. Series named Adelie, Chinstrap and Gentoo always get the
// same Okabe–Ito colour and glyph shape, in every chart.
package charts

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Point is one observation.
type Point struct{ X, Y float64 }

// Series is a named group of points drawn in one colour (for example one
// species).
type Series struct {
	Name   string
	Points []Point
}

// Line is a named straight line y = Intercept + Slope*x drawn over
// [XMin, XMax]; Scatter draws it in the colour of the series of the same Name.
type Line struct {
	Name                         string
	Intercept, Slope, XMin, XMax float64
}

// CurvePoint is one point of a prediction curve: the prediction Y at X and
// the bounds of its 95% prediction interval. Extrapolated marks a
// prediction outside the data the model was fitted to.
type CurvePoint struct {
	X, Y, Lower, Upper float64
	Extrapolated       bool
}

// Span is a named interval [From, To] of the x axis, drawn as a shaded
// strip (the training data's range, for example).
type Span struct {
	Name     string
	From, To float64
}

// Axis labels fixed by the model: every chart of model output is about body mass.
const (
	fittedLabel    = "Fitted body mass (g)"
	residualLabel  = "Residual (g)"
	predictedLabel = "Predicted body mass (g)"
	observedLabel  = "Observed body mass (g)"
)

// Scatter draws series as points, one colour and glyph shape each, with each
// series' line (matched by Name) in the same colour, a legend when there is
// more than one series, axis labels and a title.
func Scatter(title, xLabel, yLabel string, series []Series, lines []Line) ([]byte, error) {
	if err := checkSeries(title, series, true); err != nil {
		return nil, fmt.Errorf("charts: scatter: %w", err)
	}
	lineOf, err := checkLines(series, lines)
	if err != nil {
		return nil, fmt.Errorf("charts: scatter: %w", err)
	}

	p := newPlot(title, xLabel, yLabel)
	p.Add(grid())
	leg := newLegend()
	var fits []plot.Plotter // added after all points so no line hides under them
	for i, st := range stylesFor(series) {
		s := series[i]
		sc, err := scatterOf(s, st)
		if err != nil {
			return nil, fmt.Errorf("charts: scatter: %w", err)
		}
		p.Add(sc)
		thumbs := []plot.Thumbnailer{sc}
		if l, ok := lineOf[s.Name]; ok {
			fit, err := plotter.NewLine(plotter.XYs{
				{X: l.XMin, Y: l.Intercept + l.Slope*l.XMin},
				{X: l.XMax, Y: l.Intercept + l.Slope*l.XMax},
			})
			if err != nil {
				return nil, fmt.Errorf("charts: scatter: line %q: %w", l.Name, err)
			}
			fit.LineStyle = draw.LineStyle{Color: st.colour, Width: vg.Points(2)}
			fits = append(fits, fit)
			thumbs = append(thumbs, fit)
		}
		leg.Add(s.Name, thumbs...)
	}
	p.Add(fits...)
	if len(series) == 1 {
		leg = nil // the title already names the one series
	}

	desc := fmt.Sprintf("Scatter plot of %s against %s for %s",
		lowerFirst(yLabel), lowerFirst(xLabel), groupList(series, nil))
	if len(lines) > 0 {
		desc += fmt.Sprintf("; straight lines show the least-squares fit for %d of them", len(lines))
	}
	return render(p, leg, wide, tall, desc+".")
}

// Distribution draws, for each group, a box plot of its Y values: median,
// quartiles, whiskers to the furthest values within 1.5 IQR of the box and
// the values beyond them as points. Groups are named on the X axis and
// coloured as in the other charts.
func Distribution(title, yLabel string, groups []Series) ([]byte, error) {
	if err := checkSeries(title, groups, false); err != nil {
		return nil, fmt.Errorf("charts: distribution: %w", err)
	}

	p := newPlot(title, "", yLabel)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Add(horizontalGrid())
	// Boxes share the ~420pt data width; half of each slot is box.
	width := min(vg.Points(70), vg.Points(420/2)/vg.Length(len(groups)))
	names := make([]string, len(groups))
	medians := make([]float64, len(groups))
	for i, st := range stylesFor(groups) {
		g := groups[i]
		box, err := plotter.NewBoxPlot(width, float64(i), yValues(g.Points))
		if err != nil {
			return nil, fmt.Errorf("charts: distribution: group %q: %w", g.Name, err)
		}
		edge := draw.LineStyle{Color: st.colour, Width: vg.Points(1.5)}
		box.FillColor = tint(st.colour, 0.75)
		box.BoxStyle = edge
		box.WhiskerStyle = edge
		box.MedianStyle = draw.LineStyle{Color: st.colour, Width: vg.Points(3)}
		box.GlyphStyle = st.glyph()
		p.Add(box)
		names[i] = fmt.Sprintf("%s\n(n=%d)", g.Name, len(g.Points))
		medians[i] = box.Median
	}
	p.NominalX(names...)

	desc := fmt.Sprintf("Box plots of %s for %s", lowerFirst(yLabel), groupList(groups, medians))
	return render(p, nil, wide, tall, desc+".")
}

// Residuals draws residuals (Y) against fitted values (X), points coloured
// by series, with a dashed reference line at zero. The Y axis is symmetric
// about zero so that bias is easy to see.
func Residuals(title string, series []Series) ([]byte, error) {
	if err := checkSeries(title, series, true); err != nil {
		return nil, fmt.Errorf("charts: residuals: %w", err)
	}

	p := newPlot(title, fittedLabel, residualLabel)
	p.Add(grid())
	leg, err := addScatters(p, series)
	if err != nil {
		return nil, fmt.Errorf("charts: residuals: %w", err)
	}
	var m float64
	for _, s := range series {
		for _, pt := range s.Points {
			m = max(m, math.Abs(pt.Y))
		}
	}
	p.Y.Min, p.Y.Max = -m, m
	zero := plotter.NewFunction(func(float64) float64 { return 0 })
	zero.LineStyle = referenceLine
	p.Add(zero)

	desc := fmt.Sprintf("Residuals (g) against fitted body mass (g) for %s; a dashed line marks zero",
		groupList(series, nil))
	return render(p, leg, wide, tall, desc+".")
}

// PredictedObserved draws observed values (Y) against predicted values (X),
// points coloured by series, with the dashed identity line y = x. Both axes
// share one range so that distance from the line reads the same either way.
func PredictedObserved(title string, series []Series) ([]byte, error) {
	if err := checkSeries(title, series, true); err != nil {
		return nil, fmt.Errorf("charts: predicted-observed: %w", err)
	}

	p := newPlot(title, predictedLabel, observedLabel)
	p.Add(grid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, pt := range s.Points {
			lo, hi = min(lo, pt.X, pt.Y), max(hi, pt.X, pt.Y)
		}
	}
	identity, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
	if err != nil {
		return nil, fmt.Errorf("charts: predicted-observed: %w", err)
	}
	identity.LineStyle = referenceLine
	leg, err := addScatters(p, series)
	if err != nil {
		return nil, fmt.Errorf("charts: predicted-observed: %w", err)
	}
	p.Add(identity) // spans [lo, hi] on both axes, so the axes match

	desc := fmt.Sprintf("Observed against predicted body mass (g) for %s; "+
		"points on the dashed diagonal were predicted exactly", groupList(series, nil))
	return render(p, leg, wide, tall, desc+".")
}

// PredictionCurve draws a prediction curve with its shaded 95% prediction
// band and marks one point, named markLabel in the legend. The curve is
// solid where its points are not extrapolated and dashed where either end
// of a step is. A non-nil trained is shaded across the plot, behind the
// band (clipped to the curve's x range).
func PredictionCurve(title, xLabel, yLabel string, curve []CurvePoint, mark Point, markLabel string, trained *Span) ([]byte, error) {
	pts, err := checkCurve(title, curve, mark, trained)
	if err != nil {
		return nil, fmt.Errorf("charts: prediction curve: %w", err)
	}
	if markLabel == "" {
		markLabel = "Marked point"
	}

	lower := make(plotter.XYs, len(pts))
	upper := make(plotter.XYs, len(pts))
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for i, c := range pts {
		lower[i] = plotter.XY{X: c.X, Y: c.Lower}
		// Reversed, so that lower then upper walks around the band.
		upper[len(pts)-1-i] = plotter.XY{X: c.X, Y: c.Upper}
		yMin, yMax = math.Min(yMin, math.Min(c.Lower, mark.Y)), math.Max(yMax, math.Max(c.Upper, mark.Y))
	}
	outline := slices.Concat(lower, upper)

	p := newPlot(title, xLabel, yLabel)
	leg := newLegend()
	band, err := plotter.NewPolygon(outline)
	if err != nil {
		return nil, fmt.Errorf("charts: prediction curve: %w", err)
	}
	band.Color = tint(curveColour, 0.8)
	band.LineStyle = draw.LineStyle{Color: tint(curveColour, 0.4), Width: vg.Points(0.75)}
	p.Add(band)
	var shade *plotter.Polygon
	if trained != nil {
		// A translucent strip over the data's whole height, on the band so
		// that it shows across it too.
		from, to := math.Max(trained.From, pts[0].X), math.Min(trained.To, pts[len(pts)-1].X)
		if from <= to {
			shade, err = plotter.NewPolygon(plotter.XYs{{X: from, Y: yMin}, {X: to, Y: yMin}, {X: to, Y: yMax}, {X: from, Y: yMax}})
			if err != nil {
				return nil, fmt.Errorf("charts: prediction curve: %w", err)
			}
			shade.Color = trainedShade
			shade.LineStyle = draw.LineStyle{}
			p.Add(shade)
		}
	}
	p.Add(grid()) // grid after the band, which would otherwise hide it

	// The curve in runs of steps drawn alike: solid inside the data,
	// dashed outside.
	solid := draw.LineStyle{Color: curveColour, Width: vg.Points(2)}
	dashed := draw.LineStyle{Color: curveColour, Width: vg.Points(2), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
	var solidLine, dashedLine *plotter.Line
	extrapolatedFrom, extrapolatedTo := math.Inf(1), math.Inf(-1)
	for start := 0; start < len(pts)-1; {
		out := pts[start].Extrapolated || pts[start+1].Extrapolated
		end := start + 1
		for end < len(pts)-1 && (pts[end].Extrapolated || pts[end+1].Extrapolated) == out {
			end++
		}
		run := make(plotter.XYs, 0, end-start+1)
		for _, c := range pts[start : end+1] {
			run = append(run, plotter.XY{X: c.X, Y: c.Y})
		}
		line, err := plotter.NewLine(run)
		if err != nil {
			return nil, fmt.Errorf("charts: prediction curve: %w", err)
		}
		if out {
			line.LineStyle, dashedLine = dashed, line
			extrapolatedFrom, extrapolatedTo = math.Min(extrapolatedFrom, pts[start].X), math.Max(extrapolatedTo, pts[end].X)
		} else {
			line.LineStyle, solidLine = solid, line
		}
		p.Add(line)
		start = end
	}
	dot, err := plotter.NewScatter(plotter.XYs{{X: mark.X, Y: mark.Y}})
	if err != nil {
		return nil, fmt.Errorf("charts: prediction curve: %w", err)
	}
	dot.GlyphStyle = draw.GlyphStyle{Color: markColour, Radius: vg.Points(5), Shape: draw.CircleGlyph{}}
	p.Add(dot)

	if solidLine != nil {
		leg.Add("Prediction", solidLine)
	}
	if dashedLine != nil {
		leg.Add("Prediction, extrapolated", dashedLine)
	}
	leg.Add("95% prediction interval", band)
	if shade != nil {
		leg.Add(trained.Name, shade)
	}
	leg.Add(markLabel, dot)

	desc := fmt.Sprintf("Prediction curve of %s against %s from %s to %s with a shaded 95%% prediction band; "+
		"%s is marked at %s %s, %s %s",
		lowerFirst(yLabel), lowerFirst(xLabel), num(pts[0].X), num(pts[len(pts)-1].X),
		markLabel, lowerFirst(xLabel), num(mark.X), lowerFirst(yLabel), num(mark.Y))
	if shade != nil {
		desc += fmt.Sprintf("; %s, %s to %s, is shaded", trained.Name, num(trained.From), num(trained.To))
	}
	if dashedLine != nil {
		if solidLine == nil {
			desc += "; the whole curve is dashed, an extrapolation"
		} else {
			desc += fmt.Sprintf("; the curve is dashed where it is an extrapolation, between %s and %s", num(extrapolatedFrom), num(extrapolatedTo))
		}
	}
	return render(p, leg, wide, vg.Inch*4, desc+".")
}

// addScatters adds one scatter per series to p and returns their legend, or
// nil for a single series.
func addScatters(p *plot.Plot, series []Series) (*plot.Legend, error) {
	leg := newLegend()
	for i, st := range stylesFor(series) {
		sc, err := scatterOf(series[i], st)
		if err != nil {
			return nil, err
		}
		p.Add(sc)
		leg.Add(series[i].Name, sc)
	}
	if len(series) == 1 {
		return nil, nil
	}
	return leg, nil
}

func scatterOf(s Series, st style) (*plotter.Scatter, error) {
	xys := make(plotter.XYs, len(s.Points))
	for i, pt := range s.Points {
		xys[i] = plotter.XY{X: pt.X, Y: pt.Y}
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("series %q: %w", s.Name, err)
	}
	sc.GlyphStyle = st.glyph()
	return sc, nil
}

func yValues(pts []Point) plotter.Values {
	vs := make(plotter.Values, len(pts))
	for i, pt := range pts {
		vs[i] = pt.Y
	}
	return vs
}

// checkSeries rejects what would draw a misleading or empty chart; X is
// checked only where it is drawn.
func checkSeries(title string, series []Series, useX bool) error {
	if title == "" {
		return errors.New("empty title")
	}
	if len(series) == 0 {
		return errors.New("no series")
	}
	seen := make(map[string]bool, len(series))
	for i, s := range series {
		switch {
		case s.Name == "":
			return fmt.Errorf("series %d has no name", i)
		case seen[s.Name]:
			return fmt.Errorf("two series are named %q", s.Name)
		case len(s.Points) == 0:
			return fmt.Errorf("series %q has no points", s.Name)
		}
		seen[s.Name] = true
		for j, pt := range s.Points {
			if !finite(pt.Y) || (useX && !finite(pt.X)) {
				return fmt.Errorf("series %q point %d is (%v, %v); want finite values", s.Name, j, pt.X, pt.Y)
			}
		}
	}
	return nil
}

// checkLines returns the lines by series name.
func checkLines(series []Series, lines []Line) (map[string]Line, error) {
	names := make(map[string]bool, len(series))
	for _, s := range series {
		names[s.Name] = true
	}
	byName := make(map[string]Line, len(lines))
	for _, l := range lines {
		switch {
		case !names[l.Name]:
			return nil, fmt.Errorf("line %q matches no series", l.Name)
		case byName[l.Name] != Line{}:
			return nil, fmt.Errorf("two lines are named %q", l.Name)
		case !finite(l.Intercept, l.Slope, l.XMin, l.XMax):
			return nil, fmt.Errorf("line %q has a non-finite value", l.Name)
		case l.XMin > l.XMax:
			return nil, fmt.Errorf("line %q has XMin %v > XMax %v", l.Name, l.XMin, l.XMax)
		}
		byName[l.Name] = l
	}
	return byName, nil
}

// checkCurve returns a copy of curve sorted by X.
func checkCurve(title string, curve []CurvePoint, mark Point, trained *Span) ([]CurvePoint, error) {
	if title == "" {
		return nil, errors.New("empty title")
	}
	if len(curve) < 2 {
		return nil, fmt.Errorf("curve has %d points; want at least 2", len(curve))
	}
	if !finite(mark.X, mark.Y) {
		return nil, fmt.Errorf("mark is (%v, %v); want finite values", mark.X, mark.Y)
	}
	for i, c := range curve {
		if !finite(c.X, c.Y, c.Lower, c.Upper) {
			return nil, fmt.Errorf("curve point %d is %+v; want finite values", i, c)
		}
		if c.Lower > c.Y || c.Y > c.Upper {
			return nil, fmt.Errorf("curve point %d is %+v; want Lower <= Y <= Upper", i, c)
		}
	}
	if trained != nil {
		switch {
		case trained.Name == "":
			return nil, errors.New("shaded span has no name")
		case !finite(trained.From, trained.To) || trained.From > trained.To:
			return nil, fmt.Errorf("shaded span is [%v, %v]; want finite From <= To", trained.From, trained.To)
		}
	}
	pts := slices.Clone(curve)
	slices.SortStableFunc(pts, func(a, b CurvePoint) int { return cmp.Compare(a.X, b.X) })
	return pts, nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
