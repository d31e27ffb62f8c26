package charts

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// rmseByYear is RMSE by year as the model service pins it for the
// penguins' three years.
func rmseByYear() []PeriodValue {
	return []PeriodValue{{"2007", 103, 310.2}, {"2008", 113, 285.7}, {"2009", 117, 301.95}}
}

// TestPeriodsPointsMatchTheValues reads the chart back from the SVG: one
// point per period, left to right in the order given, at heights that are
// one linear function of the values; the dashed reference line at the
// height that function gives its value; and each period's n above its
// point.
func TestPeriodsPointsMatchTheValues(t *testing.T) {
	values := rmseByYear()
	ref := Reference{Name: "Training data (n=333)", Value: 296.4}
	svg, err := Periods("RMSE by year", "RMSE (g)", values, &ref)
	if err != nil {
		t.Fatal(err)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// gonum draws a circle glyph as two arcs from (x+r, y); its SVG flips
	// Y, so a larger y is higher on the page.
	circle := regexp.MustCompile(`<path d="M([-\d.]+),([-\d.]+)A([\d.]+),[\d.]+ 0 1 1 [-\d.]+,[-\d.]+A[^"]*Z" fill="` + hexColour(curveColour) + `"`)
	type pt struct{ x, y float64 }
	var pts []pt
	for _, m := range circle.FindAllStringSubmatch(string(svg), -1) {
		pts = append(pts, pt{x: num(m[1]) - num(m[3]), y: num(m[2])})
	}
	if len(pts) != len(values)+1 {
		t.Fatalf("%d points, want %d and the legend's", len(pts), len(values))
	}
	pts = pts[:len(values)] // the last is the legend's thumbnail

	// y = a + b·value, from the first two points.
	b := (pts[1].y - pts[0].y) / (values[1].Value - values[0].Value)
	a := pts[0].y - b*values[0].Value
	if !(b > 0) {
		t.Fatalf("a larger value is not higher: scale %v", b)
	}
	for i, v := range values {
		if want := a + b*v.Value; math.Abs(pts[i].y-want) > 0.01 {
			t.Errorf("%s: point at y=%.3f, want %.3f for %v", v.Label, pts[i].y, want, v.Value)
		}
		if i > 0 && pts[i].x <= pts[i-1].x {
			t.Errorf("%s is not right of %s", v.Label, values[i-1].Label)
		}
	}

	dashed := regexp.MustCompile(`<path d="M([-\d.]+),([-\d.]+)L([-\d.]+),([-\d.]+)" fill="none" stroke="#333333" stroke-width="1.25" stroke-dasharray="5,3"`)
	lines := dashed.FindAllStringSubmatch(string(svg), -1)
	if len(lines) != 2 {
		t.Fatalf("%d dashed lines, want the reference and the legend's", len(lines))
	}
	l := lines[0]
	if y0, y1 := num(l[2]), num(l[4]); y0 != y1 || math.Abs(y0-(a+b*ref.Value)) > 0.01 {
		t.Errorf("reference line from y=%v to y=%v, want level at %.3f", y0, y1, a+b*ref.Value)
	}
	if x0, x1 := num(l[1]), num(l[3]); x0 >= pts[0].x || x1 <= pts[len(pts)-1].x {
		t.Errorf("reference line spans x %v–%v, not every period (%v–%v)", x0, x1, pts[0].x, pts[len(pts)-1].x)
	}

	// Each n is centred on its point, just above it.
	for i, v := range values {
		re := regexp.MustCompile(`<text x="([-\d.]+)" y="([-\d.]+)" transform="scale\(1, -1\)"\s+[^>]*>n=` + strconv.Itoa(v.N) + `</text>`)
		m := re.FindStringSubmatch(string(svg))
		if m == nil {
			t.Errorf("%s: no label n=%d", v.Label, v.N)
			continue
		}
		// The text's y (its baseline) is negated by the flip. A point
		// below both neighbours has its n below it, away from the line.
		y := -num(m[2])
		if below := v.Label == "2008"; below && (y >= pts[i].y || y < pts[i].y-25) {
			t.Errorf("%s: n at y=%v, not just below the point at %v", v.Label, y, pts[i].y)
		} else if !below && (y <= pts[i].y || y > pts[i].y+20) {
			t.Errorf("%s: n at y=%v, not just above the point at %v", v.Label, y, pts[i].y)
		}
		if x := num(m[1]); x >= pts[i].x || x < pts[i].x-20 {
			t.Errorf("%s: n starts at x=%v, not centred on the point at %v", v.Label, x, pts[i].x)
		}
	}
}

// TestPeriodsWithoutReference: no reference, no dashed line or legend
// entry for one.
func TestPeriodsWithoutReference(t *testing.T) {
	svg, err := Periods("t", "y", rmseByYear(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`stroke-dasharray`).Match(svg) {
		t.Error("a dashed line without a reference")
	}
}

// TestPeriodsSameValues: equal values (and a reference equal to them)
// still draw.
func TestPeriodsSameValues(t *testing.T) {
	for _, v := range []float64{0, 1e-9, 300} {
		svg, err := Periods("t", "y", []PeriodValue{{"a", 1, v}, {"b", 2, v}}, &Reference{Name: "r", Value: v})
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		parse(t, svg)
	}
}
