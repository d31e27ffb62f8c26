package charts

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart sizes: wide enough for a legend beside the data, and in the 14:9
// shape that fits a page column.
const (
	wide = 7 * vg.Inch
	tall = 4.5 * vg.Inch
)

// Liberation Sans is embedded in gonum for measuring text; the SVG names it
// with metric-compatible fallbacks (see fontFallback).
var (
	sans     = font.Font{Typeface: "Liberation", Variant: "Sans"}
	sansBold = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// style is how one series is drawn.
type style struct {
	colour color.RGBA
	shape  draw.GlyphDrawer
}

func (s style) glyph() draw.GlyphStyle {
	return draw.GlyphStyle{Color: s.colour, Radius: vg.Points(2.75), Shape: s.shape}
}

// Okabe–Ito colours (https://jfly.uni-koeln.de/color/), safe for the common
// colour-vision deficiencies; shapes differ too, for greyscale.
var (
	speciesStyles = map[string]style{
		"adelie":    {rgb(0xE69F00), draw.CircleGlyph{}},
		"chinstrap": {rgb(0x56B4E9), draw.PyramidGlyph{}},
		"gentoo":    {rgb(0x009E73), draw.BoxGlyph{}},
	}
	otherColours = []color.RGBA{rgb(0x0072B2), rgb(0xD55E00), rgb(0xCC79A7), rgb(0xF0E442), rgb(0x000000)}
	otherShapes  = []draw.GlyphDrawer{draw.RingGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

	curveColour = rgb(0x0072B2)
	// trainedShade marks the training data's range: a translucent warm
	// grey, so that the prediction band shows through it.
	trainedShade  = color.NRGBA{R: 0x99, G: 0x88, B: 0x55, A: 0x40}
	markColour    = rgb(0xD55E00)
	referenceLine = draw.LineStyle{
		Color:  color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xFF},
		Width:  vg.Points(1.25),
		Dashes: []vg.Length{vg.Points(5), vg.Points(3)},
	}
)

// stylesFor returns a style per series: the species' own, or else the next
// unused colour and shape, in series order.
func stylesFor(series []Series) []style {
	styles := make([]style, len(series))
	next := 0
	for i, s := range series {
		if st, ok := speciesStyles[strings.ToLower(s.Name)]; ok {
			styles[i] = st
			continue
		}
		styles[i] = style{otherColours[next%len(otherColours)], otherShapes[next%len(otherShapes)]}
		next++
	}
	return styles
}

func rgb(hex uint32) color.RGBA {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xFF}
}

// tint mixes c with white; an opaque tint keeps the SVG colours exact, where
// transparency would round them.
func tint(c color.RGBA, white float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(float64(v) + (255-float64(v))*white + 0.5) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 0xFF}
}

// newPlot returns a plot with the package's fonts, labels and light axes.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // render paints the whole canvas
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sansBold, 14)
	p.Title.Padding = vg.Points(10)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 12)
		a.Tick.Label.Font = font.From(sans, 11)
		a.Tick.Length = vg.Points(4)
		a.Tick.Marker = roundTicks{}
		a.Padding = vg.Points(4)
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Label.Padding = vg.Points(4)
	p.Y.Label.Padding = vg.Points(6)
	return p
}

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sans, 11)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(4)
	l.ThumbnailWidth = vg.Points(22)
	return &l
}

var gridColour = color.RGBA{R: 0xE3, G: 0xE3, B: 0xE3, A: 0xFF}

func grid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical = draw.LineStyle{Color: gridColour, Width: vg.Points(0.75)}
	g.Horizontal = g.Vertical
	return g
}

// horizontalGrid is for categorical X axes, where vertical lines mean nothing.
func horizontalGrid() *plotter.Grid {
	g := grid()
	g.Vertical.Color = nil
	return g
}

// roundTicks marks about six round values (steps of 1, 2, 2.5 or 5 × 10ⁿ)
// and no minor ticks; gonum's default gives as few as three, at odd values.
type roundTicks struct{}

// Ticks implements plot.Ticker.
func (roundTicks) Ticks(lo, hi float64) []plot.Tick {
	raw := (hi - lo) / 6
	if !(raw > 0) || !finite(raw) {
		// Not plot.DefaultTicks: it never returns for a range that overflows.
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)}}
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step, decimals := 10*mag, 0
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag {
			step = m * mag
			if m == 2.5 && mag <= 1 {
				decimals = 1
			}
			break
		}
	}
	decimals += max(0, -int(math.Floor(math.Log10(mag))))
	first := math.Ceil(lo/step - 1e-6) // -1e-6: lo may be a step, rounded up
	var ticks []plot.Tick
	for i := range 20 { // bounded, should huge values defeat float steps
		v := (first+float64(i))*step + 0 // +0 turns -0 into 0
		if v > hi+step/1e6 {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}
