package casefile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/patient"
)

// RecentCase is a case in a clinician's recent work: the case as listed,
// the patient it is on, and when and by whom it was last commented on
// (comment metadata only; comment text stays sealed).
type RecentCase struct {
	Listed
	PatientID     string
	Comments      int
	LastCommentAt time.Time
	LastCommentBy string // user id
}

// MaxRecent bounds Recent's limit.
const MaxRecent = 50

// Recent returns up to limit of the cases p works on — on the care team of
// the case's patient in p's workspace, or a collaborator on the case from
// any practice — most recently changed or commented first (UpdatedAt is the later of the two). Showing a case's title reads
// the case, so each case shown is its own audited decision (case.read on
// the case, audit action "case.recent"), appended in one
// concurrent batch; a case the policy refuses is left out, and its denial is
// in the log. With nothing to show it appends nothing.
func (s *Service) Recent(ctx context.Context, p *access.Principal, limit int) ([]RecentCase, error) {
	if p == nil || p.WorkspaceID == "" {
		return nil, nil
	}
	if limit <= 0 || limit > MaxRecent {
		limit = MaxRecent
	}
	// The candidates are only those p has a standing with, so a landing
	// page never writes denials for cases it had no business to look at.
	// Ordered by the latest of the case's edit and its newest comment: a
	// comment is work on the case too. The derived table lets both
	// dialects order by that computed value.
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT id, workspace_id, patient_id, status, shared, body, updated_at, care_team, collab, comments, last_comment FROM (
		  SELECT c.id, c.workspace_id, c.patient_id, c.status, c.shared, c.body, c.updated_at,
		    EXISTS (SELECT 1 FROM care_team t WHERE t.patient_id = c.patient_id AND t.user_id = $2 AND t.removed_at IS NULL) AS care_team,
		    EXISTS (SELECT 1 FROM case_collaborators x WHERE x.case_id = c.id AND x.user_id = $2 AND x.removed_at IS NULL) AS collab,
		    (SELECT COUNT(DISTINCT m.id) FROM case_comments m WHERE m.case_id = c.id) AS comments,
		    COALESCE((SELECT MAX(m.created_at) FROM case_comments m WHERE m.case_id = c.id), 0) AS last_comment
		  FROM cases c
		  WHERE (c.workspace_id = $1
		      AND EXISTS (SELECT 1 FROM care_team t WHERE t.patient_id = c.patient_id AND t.user_id = $2 AND t.removed_at IS NULL))
		    OR EXISTS (SELECT 1 FROM case_collaborators x WHERE x.case_id = c.id AND x.user_id = $2 AND x.removed_at IS NULL)
		) r
		ORDER BY CASE WHEN last_comment > updated_at THEN last_comment ELSE updated_at END DESC, id DESC LIMIT `+strconv.Itoa(limit), p.WorkspaceID, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list recent cases: %w", err)
	}
	type cand struct {
		out RecentCase
		ws  string
		ct  []byte
		res access.Resource
	}
	var cs []cand
	for rows.Next() {
		var c cand
		var at, lastAt int64
		var careTeam, collab bool
		if err := rows.Scan(&c.out.ID, &c.ws, &c.out.PatientID, &c.out.Status, &c.out.Shared, &c.ct, &at,
			&careTeam, &collab, &c.out.Comments, &lastAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list recent cases: %w", err)
		}
		c.out.UpdatedAt = time.UnixMicro(max(at, lastAt))
		if lastAt > 0 {
			c.out.LastCommentAt = time.UnixMicro(lastAt)
		}
		c.res = access.Resource{Kind: access.KindCase, WorkspaceID: c.ws, PatientID: c.out.PatientID, CareTeam: careTeam, Collaborator: collab,
			Shared: c.out.Shared}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list recent cases: %w", err)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	checks := make([]patient.Check, len(cs))
	for i, c := range cs {
		checks[i] = patient.Check{Action: access.CaseRead, AuditAction: "case.recent", Resource: c.res, ResourceType: "case", ResourceID: c.out.ID}
	}
	rcs, err := s.gate.PassAll(ctx, p, checks)
	if err != nil {
		return nil, err
	}
	out := make([]RecentCase, 0, len(cs))
	for i, c := range cs {
		if !rcs[i].Valid() {
			continue
		}
		k, err := s.keys.PatientKey(ctx, c.ws, c.out.PatientID)
		if err != nil {
			return nil, fmt.Errorf("patient key: %w", err)
		}
		var b Body
		if err := patient.Open(rcs[i], c.out.PatientID, k, c.ct, tableCases, c.out.ID, "body", &b); err != nil {
			return nil, err
		}
		c.out.Title, c.out.Date = b.Title, b.Date
		if !c.out.LastCommentAt.IsZero() {
			c.out.LastCommentBy = s.lastCommentAuthor(ctx, c.out.ID)
		}
		out = append(out, c.out)
	}
	return out, nil
}

// lastCommentAuthor is the author of the case's newest comment (a user id,
// not PHI), or "" when it cannot be read.
func (s *Service) lastCommentAuthor(ctx context.Context, caseID string) string {
	var by string
	_ = s.db.Read.QueryRowContext(ctx, `SELECT author_id FROM case_comments WHERE case_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, caseID).Scan(&by)
	return by
}
