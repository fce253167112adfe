package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry is a stored event and its place in the log.
type Entry struct {
	Seq int64
	Event
}

// Filter selects entries. Empty fields match everything; a privacy
// officer's query is always limited to their workspace by the caller.
type Filter struct {
	PatientID   string
	ActorUserID string
	WorkspaceID string
	Action      string
	From        time.Time // inclusive; zero means no lower bound
	To          time.Time // exclusive; zero means no upper bound
	Cursor      int64     // only entries before this seq; 0 means from the newest
	Limit       int       // default 50, at most MaxLimit
}

// MaxLimit is the largest page Query returns.
const MaxLimit = 1000

// Page is one page of entries, newest first.
type Page struct {
	Entries []Entry
	// Next is the Cursor for the following (older) page, 0 when this is
	// the last one.
	Next int64
}

// Query returns entries matching f, newest first, one page at a time. Pages
// are keyed by seq rather than offset, so deep pages of a per-patient
// history cost the same as the first one.
func (l *Log) Query(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.PatientID != "" {
		add("patient_id = ?", f.PatientID)
	}
	if f.ActorUserID != "" {
		add("actor_user_id = ?", f.ActorUserID)
	}
	switch {
	case f.WorkspaceID != "" && (f.PatientID != "" || f.ActorUserID != ""):
		// A patient's or user's entries are few; a workspace's are many.
		// Written as an expression, the workspace test cannot lead the
		// planner (SQLite has no statistics to judge by) to walk the whole
		// workspace's index instead of the patient's or user's.
		add("workspace_id || '' = ?", f.WorkspaceID)
	case f.WorkspaceID != "":
		add("workspace_id = ?", f.WorkspaceID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		add("time >= ?", microsOf(f.From))
	}
	if !f.To.IsZero() {
		add("time < ?", microsOf(f.To))
	}
	if f.Cursor > 0 {
		add("seq < ?", f.Cursor)
	}
	q := `SELECT ` + eventColumnList + `, entry FROM audit_entries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	q += ` ORDER BY seq DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := l.d.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("query audit entries: %w", err)
	}
	defer rows.Close()
	var p Page
	var enc sql.RawBytes
	for rows.Next() {
		var e Entry
		var micros, breakGlass int64
		if err := rows.Scan(&e.Seq, &micros, &e.ActorUserID, &e.ActorTokenID, &e.ActorRole, &e.WorkspaceID, &e.OnBehalfOf,
			&e.Action, &e.ResourceType, &e.ResourceID, &e.PatientID, &e.Purpose, &e.Decision, &e.Reason,
			&breakGlass, &e.ClientAddr, &e.RequestID, &e.Outcome, &enc); err != nil {
			return Page{}, fmt.Errorf("query audit entries: %w", err)
		}
		e.Time = time.UnixMicro(micros).UTC()
		e.BreakGlass = breakGlass != 0
		// Entries written since migration 0210 hold their contents in
		// their encoding (the columns hold only what the filters use).
		if enc != nil {
			de, ok := entryFromEncoding(enc)
			if !ok || de.Seq != e.Seq {
				return Page{}, fmt.Errorf("query audit entries: entry %d has a malformed encoding", e.Seq)
			}
			e = de
		}
		p.Entries = append(p.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("query audit entries: %w", err)
	}
	if len(p.Entries) > limit {
		p.Entries = p.Entries[:limit]
		p.Next = p.Entries[limit-1].Seq
	}
	return p, nil
}
