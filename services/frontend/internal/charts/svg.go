package charts

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	margin    = vg.Length(8)  // around the whole chart, in points
	legendGap = vg.Length(12) // between the data and a legend beside it
)

// render draws p, with leg (if not nil) to its right, on a w×h canvas and
// returns the accessible SVG.
func render(p *plot.Plot, leg *plot.Legend, w, h vg.Length, desc string) (svg []byte, err error) {
	// gonum reports some drawing failures by panicking; callers get an error.
	defer func() {
		if r := recover(); r != nil {
			svg, err = nil, fmt.Errorf("charts: drawing %q: %v", p.Title.Text, r)
		}
	}()

	padAxes(p)
	c := vgsvg.New(w, h)
	whole := draw.New(c)
	whole.SetColor(color.White)
	whole.Fill(whole.Rectangle.Path())
	area := draw.Crop(whole, margin, -margin, margin, -margin)

	if leg == nil {
		p.Draw(area)
	} else {
		// Beside the data, not over it: no point is ever hidden.
		width := leg.Rectangle(area).Size().X
		data := draw.Crop(area, 0, -(width + legendGap), 0, 0)
		p.Draw(data)
		side := area
		side.Min.X = data.Max.X + legendGap
		side.Max.Y = p.DataCanvas(data).Max.Y
		leg.Draw(side)
	}

	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("charts: writing %q: %w", p.Title.Text, err)
	}
	return accessible(buf.Bytes(), p.Title.Text, desc)
}

// accessible makes gonum's SVG announce itself to assistive technology: role
// "img" on the root, then <title> and <desc> as its first children. It also
// lets browsers without Liberation Sans use a font of the same metrics.
func accessible(svg []byte, title, desc string) ([]byte, error) {
	start := bytes.Index(svg, []byte("<svg"))
	if start < 0 {
		return nil, errors.New("charts: no <svg> element in output")
	}
	end := bytes.IndexByte(svg[start:], '>')
	if end < 0 {
		return nil, errors.New("charts: unterminated <svg> tag in output")
	}
	end += start

	var b bytes.Buffer
	b.Grow(len(svg) + len(title) + len(desc) + 64)
	b.Write(svg[:end])
	b.WriteString(` role="img">` + "\n<title>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title>\n<desc>")
	b.WriteString(html.EscapeString(desc))
	b.WriteString("</desc>")
	// Arial and Helvetica share Liberation Sans's metrics, so text keeps the
	// width gonum measured where Liberation is not installed.
	body := bytes.ReplaceAll(svg[end+1:],
		[]byte("font-family:Liberation Sans;"),
		[]byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
	body, err := presentationAttributes(body)
	if err != nil {
		return nil, err
	}
	b.Write(body)
	return b.Bytes(), nil
}

var styleAttr = regexp.MustCompile(`style="([^"]*)"`)

// presentationProperties are the CSS properties gonum writes that SVG also
// accepts as presentation attributes.
var presentationProperties = map[string]bool{
	"fill": true, "fill-opacity": true, "stroke": true, "stroke-width": true, "stroke-opacity": true,
	"stroke-dasharray": true, "stroke-dashoffset": true, "stroke-linecap": true, "stroke-linejoin": true,
	"font-family": true, "font-size": true, "font-style": true, "font-variant": true, "font-weight": true,
	"opacity": true,
}

// presentationAttributes rewrites gonum's style="fill:…;stroke:…" as fill="…"
// stroke="…" attributes. A Content-Security-Policy of style-src 'self' (the
// frontend's, on every response) blocks style attributes but not
// presentation attributes, so the charts render under it even when opened
// on their own.
func presentationAttributes(svg []byte) ([]byte, error) {
	var bad error
	out := styleAttr.ReplaceAllFunc(svg, func(m []byte) []byte {
		decls := styleAttr.FindSubmatch(m)[1]
		var b bytes.Buffer
		for i, d := range bytes.Split(decls, []byte(";")) {
			name, value, ok := bytes.Cut(d, []byte(":"))
			if len(bytes.TrimSpace(d)) == 0 {
				continue
			}
			if !ok || !presentationProperties[string(name)] {
				bad = fmt.Errorf("charts: style %q has no presentation attribute", d)
				continue
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=\"%s\"", name, html.EscapeString(string(value)))
		}
		return b.Bytes()
	})
	return out, bad
}

// groupList describes series for <desc>: "3 groups: Adelie (n=146), …".
// With medians, each group's median follows its count.
func groupList(series []Series, medians []float64) string {
	parts := make([]string, len(series))
	n := 0
	for i, s := range series {
		n += len(s.Points)
		if medians != nil {
			parts[i] = fmt.Sprintf("%s (n=%d, median %s)", s.Name, len(s.Points), num(medians[i]))
		} else {
			parts[i] = fmt.Sprintf("%s (n=%d)", s.Name, len(s.Points))
		}
	}
	if len(series) == 1 {
		return fmt.Sprintf("%d observations in 1 group: %s", n, parts[0])
	}
	return fmt.Sprintf("%d observations in %d groups: %s", n, len(series), strings.Join(parts, ", "))
}

// lowerFirst lowercases a label's first letter for use mid-sentence, unless
// it starts an acronym ("PCA score").
func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	next, _ := utf8.DecodeRuneInString(s[size:])
	if unicode.IsUpper(next) {
		return s
	}
	return string(unicode.ToLower(r)) + s[size:]
}

// num formats v with at most one decimal: 4250, 45.3.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10+0, 'f', -1, 64) // +0 turns -0 into 0
}

// padAxes widens each axis marked with round ticks to the ticks around its
// data, so the frame starts and ends on a labelled value and no point sits
// on it.
func padAxes(p *plot.Plot) {
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		if _, ok := a.Tick.Marker.(roundTicks); !ok {
			continue
		}
		ticks := roundTicks{}.Ticks(a.Min, a.Max)
		if len(ticks) < 2 {
			continue
		}
		step := ticks[1].Value - ticks[0].Value
		a.Min = math.Floor(a.Min/step+1e-9) * step
		a.Max = math.Ceil(a.Max/step-1e-9) * step
	}
}
