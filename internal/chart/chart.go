// Package chart draws simple time-series charts as inline SVG on the server:
// axes, ticks, labels, a legend and an accessible title and description,
// with no chart library and no JavaScript. Styling uses SVG presentation
// attributes (fill, stroke, ...) and never style attributes, so pages keep a
// strict Content-Security-Policy. Series differ by colour, marker shape and
// line dash, so they stay apart for colour-blind readers and in greyscale.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one value at one time. Label, if set, is read out for the point
// (it becomes the marker's <title>).
type Point struct {
	X     time.Time
	Y     float64
	Label string
}

// Series is one named line.
type Series struct {
	Name   string
	Points []Point // in time order
}

// Line is a line chart with markers over time.
type Line struct {
	ID       string // unique within the page; prefixes the ids of title and desc
	Title    string
	Desc     string // what the chart shows, for screen readers
	YLabel   string
	FromZero bool // start the y axis at zero
	Series   []Series
}

// Geometry of the drawing, in SVG user units.
const (
	width      = 720
	plotLeft   = 64
	plotRight  = 704
	plotTop    = 16
	plotBottom = 260
	legendTop  = 300
	legendRow  = 22
	legendCols = 3
	markerSize = 4.5
)

// Palette is Okabe and Ito's colour-blind-safe set, with brown for yellow
// (which is too light on white).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F5539"}

var dashes = []string{"", "6 3", "2 3", "8 3 2 3"}

// Style is how series i is drawn: its colour, marker and dash.
func Style(i int) (colour, marker, dash string) {
	return palette[i%len(palette)], markers[i%len(markers)], dashes[i%len(dashes)]
}

var markers = []string{"circle", "square", "triangle", "diamond", "triangle-down", "cross", "plus", "ring"}

// SVG renders the chart. Every text is escaped; the result is safe to put
// into a page as is.
func (c *Line) SVG() template.HTML {
	var b strings.Builder
	rows := (len(c.Series) + legendCols - 1) / legendCols
	height := legendTop + rows*legendRow + 8
	id := template.HTMLEscapeString(c.ID)
	n := 0
	for _, s := range c.Series {
		n += len(s.Points)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc" data-points="%d" font-family="system-ui, sans-serif" font-size="12">`,
		width, height, id, id, n)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(c.Title), id, esc(c.Desc))
	x0, x1, y0, y1, ok := c.bounds()
	if !ok {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#5b6570">No data in this period</text></svg>`, width/2, (plotTop+plotBottom)/2)
		return template.HTML(b.String())
	}
	yt := niceTicks(y0, y1, 6)
	y0, y1 = yt[0], yt[len(yt)-1]
	sx := func(t time.Time) float64 {
		return plotLeft + float64(t.Sub(x0))/float64(x1.Sub(x0))*(plotRight-plotLeft)
	}
	sy := func(v float64) float64 { return plotBottom - (v-y0)/(y1-y0)*(plotBottom-plotTop) }

	// Grid, y ticks and labels.
	b.WriteString(`<g class="axis y">`)
	for _, v := range yt {
		y := sy(v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e7eb"/>`, plotLeft, plotRight, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#1b1f24">%s</text>`, plotLeft-6, y, formatNumber(v))
	}
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle" fill="#1b1f24">%s</text>`, (plotTop+plotBottom)/2, esc(c.YLabel))
	b.WriteString(`</g><g class="axis x">`)
	for _, tk := range timeTicks(x0, x1) {
		x := sx(tk.t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#5b6570"/>`, x, x, plotBottom, plotBottom+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#1b1f24">%s</text>`, x, plotBottom+20, esc(tk.label))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#5b6570"/>`, plotLeft, plotRight, plotBottom, plotBottom)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#5b6570"/>`, plotLeft, plotLeft, plotTop, plotBottom)
	b.WriteString(`</g>`)

	// Series: a dashed line, then markers, each with its value as a title.
	for i, s := range c.Series {
		colour, marker, dash := Style(i)
		fmt.Fprintf(&b, `<g class="series" data-series="%d">`, i)
		if len(s.Points) > 1 {
			b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + colour + `"`)
			if dash != "" {
				b.WriteString(` stroke-dasharray="` + dash + `"`)
			}
			b.WriteString(` points="`)
			for j, p := range s.Points {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", sx(p.X), sy(p.Y))
			}
			b.WriteString(`"/>`)
		}
		for _, p := range s.Points {
			label := p.Label
			if label == "" {
				label = s.Name + ", " + p.X.Format("2 Jan 2006") + ": " + formatNumber(p.Y)
			}
			drawMarker(&b, marker, colour, sx(p.X), sy(p.Y), label)
		}
		b.WriteString(`</g>`)
	}

	// Legend: marker, dash sample and name for each series.
	b.WriteString(`<g class="legend">`)
	colW := (plotRight - plotLeft) / legendCols
	for i, s := range c.Series {
		colour, marker, dash := Style(i)
		x := float64(plotLeft + (i%legendCols)*colW)
		y := float64(legendTop + (i/legendCols)*legendRow)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"`, x, x+28, y, y, colour)
		if dash != "" {
			fmt.Fprintf(&b, ` stroke-dasharray="%s"`, dash)
		}
		b.WriteString(`/>`)
		drawLegendMarker(&b, marker, colour, x+14, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#1b1f24">%s</text>`, x+36, y, esc(s.Name))
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

func (c *Line) bounds() (x0, x1 time.Time, y0, y1 float64, ok bool) {
	y0, y1 = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !ok || p.X.Before(x0) {
				x0 = p.X
			}
			if !ok || p.X.After(x1) {
				x1 = p.X
			}
			ok = true
			y0, y1 = math.Min(y0, p.Y), math.Max(y1, p.Y)
		}
	}
	if !ok {
		return
	}
	if c.FromZero {
		y0 = math.Min(0, y0)
	}
	if x1.Sub(x0) < 24*time.Hour {
		// One day of data: give it a day either side so it is not squashed.
		x0, x1 = x0.Add(-24*time.Hour), x1.Add(24*time.Hour)
	}
	if y1-y0 < 1e-9 {
		y0, y1 = y0-1, y1+1
	}
	return x0, x1, y0, y1, true
}

func drawMarker(b *strings.Builder, marker, colour string, x, y float64, label string) {
	open := func(shape string) { b.WriteString(`<` + shape + ` class="pt"`) }
	switch marker {
	case "circle", "ring":
		open("circle")
		fill := colour
		if marker == "ring" {
			fill = "#ffffff"
		}
		fmt.Fprintf(b, ` cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="%s" stroke-width="1.5">`, x, y, markerSize, fill, colour)
		fmt.Fprintf(b, `<title>%s</title></circle>`, esc(label))
		return
	}
	open("path")
	fmt.Fprintf(b, ` d="%s"`, markerPath(marker, x, y, markerSize))
	switch marker {
	case "cross", "plus":
		fmt.Fprintf(b, ` fill="none" stroke="%s" stroke-width="2.5">`, colour)
	default:
		fmt.Fprintf(b, ` fill="%s">`, colour)
	}
	fmt.Fprintf(b, `<title>%s</title></path>`, esc(label))
}

// drawLegendMarker draws a marker without the "pt" class, so point counts
// stay counts of data.
func drawLegendMarker(b *strings.Builder, marker, colour string, x, y float64) {
	switch marker {
	case "circle", "ring":
		fill := colour
		if marker == "ring" {
			fill = "#ffffff"
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="%s" stroke-width="1.5"/>`, x, y, markerSize, fill, colour)
	case "cross", "plus":
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2.5"/>`, markerPath(marker, x, y, markerSize), colour)
	default:
		fmt.Fprintf(b, `<path d="%s" fill="%s"/>`, markerPath(marker, x, y, markerSize), colour)
	}
}

func markerPath(marker string, x, y, r float64) string {
	switch marker {
	case "square":
		return fmt.Sprintf("M%.1f %.1fh%.1fv%.1fh%.1fZ", x-r*0.85, y-r*0.85, 1.7*r, 1.7*r, -1.7*r)
	case "triangle":
		return fmt.Sprintf("M%.1f %.1fL%.1f %.1fL%.1f %.1fZ", x, y-r*1.1, x+r, y+r*0.8, x-r, y+r*0.8)
	case "triangle-down":
		return fmt.Sprintf("M%.1f %.1fL%.1f %.1fL%.1f %.1fZ", x, y+r*1.1, x+r, y-r*0.8, x-r, y-r*0.8)
	case "diamond":
		return fmt.Sprintf("M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ", x, y-r*1.2, x+r, y, x, y+r*1.2, x-r, y)
	case "cross":
		return fmt.Sprintf("M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f", x-r, y-r, x+r, y+r, x-r, y+r, x+r, y-r)
	case "plus":
		return fmt.Sprintf("M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f", x-r, y, x+r, y, x, y-r, x, y+r)
	}
	return ""
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// formatNumber prints a tick or value without float noise.
func formatNumber(v float64) string {
	if math.Abs(v-math.Round(v)) < 1e-9 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// niceTicks returns about n round tick values covering [lo, hi], first and
// last on or beyond the data.
func niceTicks(lo, hi float64, n int) []float64 {
	step := niceStep((hi - lo) / float64(n-1))
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v < hi+step*0.999; v += step {
		out = append(out, math.Round(v/step)*step)
		if len(out) > 4*n {
			break
		}
	}
	if len(out) < 2 {
		out = append(out, start+step)
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

type tick struct {
	t     time.Time
	label string
}

// timeTicks picks calendar-aligned ticks (days, weeks, months or years), at
// most about eight, labelled at the matching precision.
func timeTicks(x0, x1 time.Time) []tick {
	span := x1.Sub(x0)
	day := 24 * time.Hour
	type unit struct {
		days, months, years int
		approx              time.Duration
		layout              string
	}
	units := []unit{
		{days: 1, approx: day, layout: "2 Jan"}, {days: 2, approx: 2 * day, layout: "2 Jan"},
		{days: 7, approx: 7 * day, layout: "2 Jan"}, {days: 14, approx: 14 * day, layout: "2 Jan"},
		{months: 1, approx: 30 * day, layout: "Jan 2006"}, {months: 2, approx: 61 * day, layout: "Jan 2006"},
		{months: 3, approx: 91 * day, layout: "Jan 2006"}, {months: 6, approx: 182 * day, layout: "Jan 2006"},
		{years: 1, approx: 365 * day, layout: "2006"}, {years: 2, approx: 730 * day, layout: "2006"},
		{years: 5, approx: 1826 * day, layout: "2006"}, {years: 10, approx: 3652 * day, layout: "2006"},
	}
	u := units[len(units)-1]
	for _, c := range units {
		if span/c.approx <= 8 {
			u = c
			break
		}
	}
	y, m, d := x0.UTC().Date()
	var t time.Time
	switch {
	case u.years > 0:
		t = time.Date(y-y%u.years, 1, 1, 0, 0, 0, 0, time.UTC)
	case u.months > 0:
		mm := int(m) - 1
		t = time.Date(y, time.Month(mm-mm%u.months+1), 1, 0, 0, 0, 0, time.UTC)
	case u.days == 7 || u.days == 14:
		t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		t = t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)) // Monday
	default:
		t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	var out []tick
	for ; !t.After(x1) && len(out) < 20; t = t.AddDate(u.years, u.months, u.days) {
		if !t.Before(x0) {
			out = append(out, tick{t, t.Format(u.layout)})
		}
	}
	return out
}
