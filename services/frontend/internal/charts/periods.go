package charts

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PeriodValue is one period's value of a metric: the period's label (its
// start, "2007"), the value, and N, the observations it comes from.
type PeriodValue struct {
	Label string
	N     int
	Value float64
}

// Reference is a value to compare every period with, drawn as a dashed
// line and named in the legend: the metric on the training data.
type Reference struct {
	Name  string
	Value float64
}

// periodHeight is the height of a period chart: shorter than the others,
// as the page shows one per metric.
const periodHeight = 3.5 * vg.Inch

// Periods draws a metric by period, like vetiver's plot of pinned metrics:
// one point per period, in the order given and joined by a line, each
// labelled with its n, and ref (when not nil) as a dashed horizontal line.
// Periods run along the X axis, named by their labels.
func Periods(title, yLabel string, values []PeriodValue, ref *Reference) ([]byte, error) {
	if err := checkPeriods(title, values, ref); err != nil {
		return nil, fmt.Errorf("charts: periods: %w", err)
	}
	n := len(values)
	xys := make(plotter.XYs, n)
	names := make([]string, n)
	labels := make([]string, n)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range values {
		xys[i] = plotter.XY{X: float64(i), Y: v.Value}
		names[i], labels[i] = v.Label, fmt.Sprintf("n=%d", v.N)
		lo, hi = min(lo, v.Value), max(hi, v.Value)
	}
	if ref != nil {
		lo, hi = min(lo, ref.Value), max(hi, ref.Value)
	}
	// Room above and below the points for their n, and a range to draw
	// even when every value is the same.
	span := hi - lo
	if span == 0 {
		span = max(math.Abs(hi)/10, 1)
	}
	lo, hi = lo-span/5, hi+span/5

	p := newPlot(title, "", yLabel)
	p.Add(horizontalGrid())
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = lo, hi
	p.NominalX(names...)

	st := style{colour: curveColour, shape: draw.CircleGlyph{}}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, fmt.Errorf("charts: periods: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: curveColour, Width: vg.Points(2)}
	points.GlyphStyle = st.glyph()
	points.GlyphStyle.Radius = vg.Points(3.5)

	var refLine *plotter.Line
	if ref != nil {
		// Added first, so the periods' points lie over it.
		refLine, err = plotter.NewLine(plotter.XYs{{X: -0.5, Y: ref.Value}, {X: float64(n) - 0.5, Y: ref.Value}})
		if err != nil {
			return nil, fmt.Errorf("charts: periods: reference: %w", err)
		}
		refLine.LineStyle = referenceLine
		p.Add(refLine)
	}
	p.Add(line, points)
	leg := newLegend()
	leg.Add("By period", line, points)
	if ref != nil {
		leg.Add(ref.Name, refLine)
	}

	// Each n sits on the side of its point away from the line: below a
	// point lower than its neighbours, above any other.
	var above, below plotter.XYLabels
	for i, xy := range xys {
		side := &above
		if lowerThanNeighbours(values, i) {
			side = &below
		}
		side.XYs = append(side.XYs, xy)
		side.Labels = append(side.Labels, labels[i])
	}
	for _, side := range []struct {
		l      plotter.XYLabels
		offset vg.Length
		align  text.YAlignment
	}{{above, vg.Points(7), draw.YBottom}, {below, -vg.Points(7), draw.YTop}} {
		if len(side.l.XYs) == 0 {
			continue
		}
		ns, err := plotter.NewLabels(side.l)
		if err != nil {
			return nil, fmt.Errorf("charts: periods: %w", err)
		}
		for i := range ns.TextStyle {
			ns.TextStyle[i] = text.Style{Color: referenceLine.Color, Font: font.From(sans, 10),
				XAlign: draw.XCenter, YAlign: side.align, Handler: p.Title.TextStyle.Handler}
		}
		ns.Offset = vg.Point{Y: side.offset}
		p.Add(ns)
	}

	parts := make([]string, n)
	for i, v := range values {
		parts[i] = fmt.Sprintf("%s (n=%d): %s", v.Label, v.N, trim(v.Value))
	}
	periods := "periods"
	if n == 1 {
		periods = "period"
	}
	// yLabel as given: metric names are often symbols (R²) or acronyms.
	desc := fmt.Sprintf("Line chart of %s in %d %s: %s", yLabel, n, periods, strings.Join(parts, "; "))
	if ref != nil {
		desc += fmt.Sprintf("; a dashed line marks %s at %s", lowerFirst(ref.Name), trim(ref.Value))
	}
	return render(p, leg, wide, periodHeight, desc+".")
}

// lowerThanNeighbours reports whether period i is below the mean of the
// periods either side of it (or of the one it has).
func lowerThanNeighbours(values []PeriodValue, i int) bool {
	var sum float64
	var k int
	for _, j := range []int{i - 1, i + 1} {
		if j >= 0 && j < len(values) {
			sum, k = sum+values[j].Value, k+1
		}
	}
	return k > 0 && values[i].Value < sum/float64(k)
}

// trim formats v with at most three decimals: 301.2, 0.872, 0.
func trim(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", math.Round(v*1000)/1000+0), "0"), ".")
}

// checkPeriods rejects what would draw a misleading chart: no periods, a
// nameless or repeated period, a negative n, or a value that is not finite.
func checkPeriods(title string, values []PeriodValue, ref *Reference) error {
	switch {
	case title == "":
		return errors.New("empty title")
	case len(values) == 0:
		return errors.New("no periods")
	case ref != nil && (ref.Name == "" || !finite(ref.Value)):
		return fmt.Errorf("reference %q at %v; want a name and a finite value", ref.Name, ref.Value)
	}
	for i, v := range values {
		switch {
		case v.Label == "":
			return fmt.Errorf("period %d has no label", i)
		case slices.ContainsFunc(values[:i], func(o PeriodValue) bool { return o.Label == v.Label }):
			return fmt.Errorf("two periods are labelled %q", v.Label)
		case v.N < 0:
			return fmt.Errorf("period %q has n=%d", v.Label, v.N)
		case !finite(v.Value):
			return fmt.Errorf("period %q has value %v; want a finite value", v.Label, v.Value)
		}
	}
	return nil
}
