package rehab

import (
	"sort"
	"time"
)

// Range is how far back a progress view looks. Ranges are named rather
// than given as dates so that no date ever travels in a URL.
type Range string

// The ranges.
const (
	Range30Days Range = "30d"
	Range90Days Range = "90d"
	Range1Year  Range = "1y"
	Range5Years Range = "5y"
	RangeAll    Range = "all"
)

// Ranges lists the ranges in the order pages offer them.
var Ranges = []Range{Range30Days, Range90Days, Range1Year, Range5Years, RangeAll}

// ParseRange reads a range name; the empty string is the default, 90 days.
func ParseRange(s string) (Range, bool) {
	if s == "" {
		return Range90Days, true
	}
	for _, r := range Ranges {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Label is the range as a page shows it.
func (r Range) Label() string {
	switch r {
	case Range30Days:
		return "Last 30 days"
	case Range90Days:
		return "Last 90 days"
	case Range1Year:
		return "Last year"
	case Range5Years:
		return "Last 5 years"
	}
	return "Everything"
}

// from is the start of the range ending at now; zero for RangeAll.
func (r Range) from(now time.Time) time.Time {
	switch r {
	case Range30Days:
		return now.AddDate(0, 0, -30)
	case Range90Days:
		return now.AddDate(0, 0, -90)
	case Range1Year:
		return now.AddDate(-1, 0, 0)
	case Range5Years:
		return now.AddDate(-5, 0, 0)
	}
	return time.Time{}
}

// Grain is the width of one aggregated point: days for short ranges, weeks
// and months for long ones, so five years of daily sessions stay a few
// hundred points.
type Grain string

// The grains.
const (
	Day   Grain = "day"
	Week  Grain = "week"
	Month Grain = "month"
)

// grainFor picks the grain for a span of time.
func grainFor(span time.Duration) Grain {
	switch {
	case span <= 92*24*time.Hour:
		return Day
	case span <= 2*366*24*time.Hour:
		return Week
	}
	return Month
}

// bucket is the start of t's day, ISO week (Monday) or month, in UTC.
func (g Grain) bucket(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch g {
	case Week:
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Progress is a patient's exercises and sessions aggregated over a range.
type Progress struct {
	Range     Range      `json:"range"`
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Grain     Grain      `json:"grain"`
	Sessions  int        `json:"sessions"`
	Exercises int        `json:"exercises"`
	Series    []Series   `json:"series"`   // per exercise type and side
	Activity  []Activity `json:"activity"` // sessions' activity score and game time
}

// Series is one exercise type on one side over time.
type Series struct {
	Type   string  `json:"type"`
	Side   Side    `json:"side"`
	Points []Point `json:"points"`
}

// Point aggregates the exercises of one type and side in one bucket.
type Point struct {
	Start           time.Time `json:"start"`
	Count           int       `json:"count"`
	Performance     float64   `json:"performance"`      // mean
	DurationSeconds float64   `json:"duration_seconds"` // mean per exercise
	Level           int       `json:"level"`            // highest reached
}

// Activity aggregates the sessions of one bucket.
type Activity struct {
	Start           time.Time `json:"start"`
	Sessions        int       `json:"sessions"`
	ActivityScore   float64   `json:"activity_score"`    // mean
	GameTimeSeconds float64   `json:"game_time_seconds"` // total
}

type seriesKey struct {
	typ  string
	side Side
}

type acc struct {
	n            int
	perf, dur    float64
	level        int
	score, games float64
}

// aggregator builds the progress view as exercises stream past, so a read
// of five years never holds every decrypted exercise at once.
type aggregator struct {
	p      *Progress
	series map[seriesKey]map[int64]*acc
}

// newAggregator starts a view of [from, to] from the sessions in it. For
// RangeAll (zero from) the view starts at the first session, and the grain
// follows the span.
func newAggregator(r Range, from, to time.Time, sessions []sessionRecord) *aggregator {
	p := &Progress{Range: r, From: from, To: to, Sessions: len(sessions)}
	if from.IsZero() {
		p.From = to
		for i := range sessions {
			if t := fromMicros(sessions[i].Start); t.Before(p.From) {
				p.From = t
			}
		}
	}
	p.Grain = grainFor(to.Sub(p.From))
	act := map[int64]*acc{}
	for i := range sessions {
		s := &sessions[i]
		b := p.Grain.bucket(fromMicros(s.Start)).Unix()
		a := act[b]
		if a == nil {
			a = &acc{}
			act[b] = a
		}
		a.n++
		a.score += s.Score
		a.games += s.GameTime
	}
	for b, a := range act {
		p.Activity = append(p.Activity, Activity{
			Start: time.Unix(b, 0).UTC(), Sessions: a.n, ActivityScore: a.score / float64(a.n), GameTimeSeconds: a.games,
		})
	}
	sort.Slice(p.Activity, func(i, j int) bool { return p.Activity[i].Start.Before(p.Activity[j].Start) })
	return &aggregator{p: p, series: map[seriesKey]map[int64]*acc{}}
}

// add counts one exercise.
func (g *aggregator) add(e *exerciseRecord) {
	g.p.Exercises++
	t := fromMicros(e.Date)
	if t.Before(g.p.From) {
		g.p.From = t
	}
	k := seriesKey{e.Type, e.Side}
	m := g.series[k]
	if m == nil {
		m = map[int64]*acc{}
		g.series[k] = m
	}
	b := g.p.Grain.bucket(t).Unix()
	a := m[b]
	if a == nil {
		a = &acc{}
		m[b] = a
	}
	a.n++
	a.perf += e.Performance
	a.dur += e.Duration
	a.level = max(a.level, e.Level)
}

// finish returns the view, series ordered by type and side, points by time.
func (g *aggregator) finish() *Progress {
	p := g.p
	for k, m := range g.series {
		s := Series{Type: k.typ, Side: k.side, Points: make([]Point, 0, len(m))}
		for b, a := range m {
			s.Points = append(s.Points, Point{
				Start: time.Unix(b, 0).UTC(), Count: a.n,
				Performance: a.perf / float64(a.n), DurationSeconds: a.dur / float64(a.n), Level: a.level,
			})
		}
		sort.Slice(s.Points, func(i, j int) bool { return s.Points[i].Start.Before(s.Points[j].Start) })
		p.Series = append(p.Series, s)
	}
	sort.Slice(p.Series, func(i, j int) bool {
		a, b := p.Series[i], p.Series[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return sideOrder(a.Side) < sideOrder(b.Side)
	})
	return p
}

func sideOrder(s Side) int {
	switch s {
	case Left:
		return 0
	case Right:
		return 1
	}
	return 2
}
