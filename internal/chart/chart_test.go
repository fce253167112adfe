package chart

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

func series(name string, n int, start time.Time, step time.Duration) Series {
	s := Series{Name: name}
	for i := range n {
		s.Points = append(s.Points, Point{X: start.Add(time.Duration(i) * step), Y: float64(40 + i%30)})
	}
	return s
}

func TestChartIsWellFormedAccessibleSVGWithOneElementPerPoint(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		n    int
		step time.Duration
	}{{"days", 30, 24 * time.Hour}, {"weeks", 52, 7 * 24 * time.Hour}, {"months", 60, 30 * 24 * time.Hour}, {"one point", 1, time.Hour}} {
		t.Run(c.name, func(t *testing.T) {
			l := &Line{ID: "c1", Title: "Performance <& more>", Desc: "Mean performance", YLabel: "%",
				Series: []Series{series("wrist <left>", c.n, start, c.step), series("grip right", c.n, start, c.step)}}
			svg := string(l.SVG())
			dec := xml.NewDecoder(strings.NewReader(svg))
			pts, titles, texts := 0, 0, 0
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok {
					for _, a := range se.Attr {
						if a.Name.Local == "style" {
							t.Fatal("a style attribute would break the CSP")
						}
						if a.Name.Local == "class" && a.Value == "pt" {
							pts++
						}
					}
					switch se.Name.Local {
					case "title":
						titles++
					case "text":
						texts++
					}
				}
			}
			if pts != 2*c.n {
				t.Fatalf("%d point elements, want %d", pts, 2*c.n)
			}
			if titles != 1+2*c.n || texts < 5 {
				t.Fatalf("%d titles, %d texts", titles, texts)
			}
			if !strings.Contains(svg, `aria-labelledby="c1-title c1-desc"`) || !strings.Contains(svg, "&lt;left&gt;") {
				t.Fatal("missing labels or unescaped text")
			}
		})
	}
}

func TestSeriesDifferByColourMarkerAndDash(t *testing.T) {
	seen := map[string]bool{}
	for i := range 8 {
		c, m, d := Style(i)
		if seen[c] || seen[m] {
			t.Fatalf("series %d repeats a colour or marker", i)
		}
		seen[c], seen[m] = true, true
		_ = d
	}
}

func TestEmptyChartSaysSo(t *testing.T) {
	svg := string((&Line{ID: "e", Title: "x"}).SVG())
	if !strings.Contains(svg, "No data in this period") || strings.Contains(svg, `class="pt"`) {
		t.Fatal(svg)
	}
}

func TestTicksAreRound(t *testing.T) {
	got := niceTicks(3.2, 97.5, 6)
	if got[0] != 0 || got[len(got)-1] != 100 {
		t.Fatalf("%v", got)
	}
	tt := timeTicks(time.Date(2020, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC))
	if len(tt) < 3 || len(tt) > 9 || tt[0].label != "2021" {
		t.Fatalf("%v", tt)
	}
}
