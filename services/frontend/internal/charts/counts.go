package charts

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Count is one bin of a distribution of counts: its label and the records
// that fall in it.
type Count struct {
	Label string
	N     uint64
}

// Counts draws a distribution as counts by bin: one horizontal bar per bin,
// its length the records in it, in the colour of Shares' current sample.
// Bins run down the Y axis in the order given, named by their labels; the
// chart grows taller with the number of bins. The description gives each
// bin's count and share.
func Counts(title, binLabel, countLabel string, bins []Count) ([]byte, error) {
	if err := checkCounts(title, bins); err != nil {
		return nil, fmt.Errorf("charts: counts: %w", err)
	}
	n := len(bins)
	vals := make(plotter.Values, n)
	names := make([]string, n)
	var most, total float64
	for k, b := range bins {
		i := n - 1 - k // the first bin at the top
		vals[i], names[i] = float64(b.N), b.Label
		most = max(most, vals[i])
		total += vals[i]
	}
	h := max(2.5*vg.Inch, vg.Points(96)+vg.Points(20)*vg.Length(n))
	width := min(vg.Points(14), 0.6*(h-vg.Points(96))/vg.Length(n))

	p := newPlot(title, countLabel, binLabel)
	g := grid()
	g.Horizontal.Color = nil // bins are categories: only the counts have a scale
	p.Add(g)
	b, err := bars(vals, width, 0, currentFill, currentFill)
	if err != nil {
		return nil, fmt.Errorf("charts: counts: %w", err)
	}
	p.Add(b)
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Min, p.X.Max = 0, most
	if most == 0 {
		p.X.Max = 10 // nothing counted yet: an axis to show the zeros on
	}

	parts := make([]string, n)
	for k, b := range bins {
		share := 0.0
		if total > 0 {
			share = float64(b.N) / total
		}
		parts[k] = fmt.Sprintf("%s: %d (%s%%)", b.Label, b.N, pct(share))
	}
	desc := fmt.Sprintf("Bar chart of %s in each of %d bins of %s, %.0f in all: %s",
		lowerFirst(countLabel), n, lowerFirst(binLabel), total, strings.Join(parts, "; "))
	return render(p, nil, wide, h, desc+".")
}

// checkCounts rejects what would draw a misleading chart: no title, no
// bins, a nameless or repeated bin, or a count too large to draw exactly.
func checkCounts(title string, bins []Count) error {
	switch {
	case title == "":
		return errors.New("empty title")
	case len(bins) == 0:
		return errors.New("no bins")
	}
	for i, b := range bins {
		switch {
		case b.Label == "":
			return fmt.Errorf("bin %d has no label", i)
		case slices.ContainsFunc(bins[:i], func(o Count) bool { return o.Label == b.Label }):
			return fmt.Errorf("two bins are labelled %q", b.Label)
		case b.N > 1<<53:
			return fmt.Errorf("bin %q counts %d, more than a float64 holds exactly (%v)", b.Label, b.N, math.Exp2(53))
		}
	}
	return nil
}
