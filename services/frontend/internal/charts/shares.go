package charts

import (
	"errors"
	"fmt"
	"image/color"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Share is one bin (or category) of two distributions over the same bins:
// its label and the share of the reference and of the current sample that
// fall in it, each from 0 to 1.
type Share struct {
	Label              string
	Reference, Current float64
}

// Colours of the two distributions: a light blue for the reference, which
// is the background to compare against, and a solid vermillion for the
// current sample. They differ in lightness too, for greyscale.
var (
	referenceFill = tint(curveColour, 0.6)
	currentFill   = markColour
)

// Shares compares two distributions bin by bin: for each bin, a bar of its
// reference share above a bar of its current share, named refName and
// curName in the legend. Bins run down the Y axis in the order given, named
// by their labels, so that labels of any length stay readable; shares are
// drawn as percentages. The chart grows taller with the number of bins.
func Shares(title, binLabel, refName, curName string, bins []Share) ([]byte, error) {
	if err := checkShares(title, refName, curName, bins); err != nil {
		return nil, fmt.Errorf("charts: shares: %w", err)
	}
	n := len(bins)
	// Bin k sits at Y = n-1-k, so the first bin is at the top.
	ref, cur := make(plotter.Values, n), make(plotter.Values, n)
	names := make([]string, n)
	var most float64
	for k, b := range bins {
		i := n - 1 - k
		ref[i], cur[i], names[i] = 100*b.Reference, 100*b.Current, b.Label
		most = max(most, ref[i], cur[i])
	}

	h := max(2.5*vg.Inch, vg.Points(96)+vg.Points(26)*vg.Length(n))
	// A pair of bars takes at most 70% of its slot: the rest separates bins.
	slot := (h - vg.Points(96)) / vg.Length(n)
	width := min(vg.Points(11), 0.35*slot)

	p := newPlot(title, "Share of records (%)", binLabel)
	g := grid()
	g.Horizontal.Color = nil // bins are categories: only the shares have a scale
	p.Add(g)
	refBars, err := bars(ref, width, width/2, referenceFill, curveColour)
	if err != nil {
		return nil, fmt.Errorf("charts: shares: %w", err)
	}
	curBars, err := bars(cur, width, -width/2, currentFill, currentFill)
	if err != nil {
		return nil, fmt.Errorf("charts: shares: %w", err)
	}
	p.Add(refBars, curBars)
	leg := newLegend()
	leg.Add(refName, refBars)
	leg.Add(curName, curBars)
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Min, p.X.Max = 0, most
	if most == 0 {
		p.X.Max = 10 // an empty window: an axis to show the zeros on
	}

	parts := make([]string, n)
	for k, b := range bins {
		parts[k] = fmt.Sprintf("%s: %s%% against %s%%", b.Label, pct(b.Reference), pct(b.Current))
	}
	desc := fmt.Sprintf("Bar chart of the share of records in each of %d bins of %s, %s against %s: %s",
		n, lowerFirst(binLabel), lowerFirst(refName), lowerFirst(curName), strings.Join(parts, "; "))
	return render(p, leg, wide, h, desc+".")
}

// checkShares rejects what would draw a misleading chart: no bins, a
// nameless or repeated bin, or a share that is not a fraction.
func checkShares(title, refName, curName string, bins []Share) error {
	switch {
	case title == "":
		return errors.New("empty title")
	case refName == "" || curName == "" || refName == curName:
		return fmt.Errorf("series names %q and %q; want two different names", refName, curName)
	case len(bins) == 0:
		return errors.New("no bins")
	}
	for i, b := range bins {
		switch {
		case b.Label == "":
			return fmt.Errorf("bin %d has no label", i)
		case slices.ContainsFunc(bins[:i], func(o Share) bool { return o.Label == b.Label }):
			return fmt.Errorf("two bins are labelled %q", b.Label)
		case !finite(b.Reference, b.Current) || b.Reference < 0 || b.Current < 0 || b.Reference > 1 || b.Current > 1:
			return fmt.Errorf("bin %q has shares %v and %v; want fractions from 0 to 1", b.Label, b.Reference, b.Current)
		}
	}
	return nil
}

// pct formats a share (0–1) as a percentage with one decimal: 9.9.
func pct(share float64) string { return fmt.Sprintf("%.1f", 100*share) }

// bars is one horizontal bar per value, moved offset along the bins' axis.
func bars(values plotter.Values, width, offset vg.Length, fill, edge color.RGBA) (*plotter.BarChart, error) {
	b, err := plotter.NewBarChart(values, width)
	if err != nil {
		return nil, err
	}
	b.Horizontal = true
	b.Offset = offset
	b.Color = fill
	b.LineStyle = draw.LineStyle{Color: edge, Width: vg.Points(0.75)}
	return b, nil
}
