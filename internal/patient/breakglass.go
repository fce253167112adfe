package patient

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// ReasonCodes are why a clinician may break the glass; the free text says
// the rest. The list is short on purpose: reviewers compare like with like.
var ReasonCodes = []string{"emergency", "urgent_consultation", "covering_clinician", "continuity_of_care", "other"}

// MinReasonLength is the shortest free-text reason accepted: long enough
// that "x" or "emergency" alone does not pass as a justification.
const MinReasonLength = 10

// Grant is an active or past break-glass grant.
type Grant struct {
	ID         string
	PatientID  string
	UserID     string
	ReasonCode string
	Reason     string // sealed at rest; filled only for privacy officers
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// BreakGlassAlert tells the privacy officer a grant was opened. Ids and codes
// only: it may travel by email.
type BreakGlassAlert struct {
	WorkspaceID, GrantID, PatientID, UserID, ReasonCode string
	ExpiresAt                                           time.Time
}

// BreakGlassNotifier pushes the alert (identity's mailer, once merged). The
// review queue row, written in the same transaction as the grant, is the
// durable alert; a failed push is logged, not fatal.
type BreakGlassNotifier interface {
	BreakGlassOpened(ctx context.Context, a BreakGlassAlert) error
}

// BreakGlass opens emergency access for p to a patient outside p's normal
// rights. A reason code and a free-text reason are required. The grant lasts
// Config.BreakGlassFor; every access under it is audited with BreakGlass set
// and purpose break_glass, and it is queued for privacy officer review.
// TODO(identity): require a fresh re-authentication (164.312(a)(2)(ii)) once
// sessions can say when the user last proved who they are.
func (s *Service) BreakGlass(ctx context.Context, p *access.Principal, patientID, code, reason string) (*Grant, error) {
	reason = strings.TrimSpace(reason)
	f := fieldErrors{}
	if !oneOf(code, ReasonCodes) {
		f.add("reason_code", "choose one of "+strings.Join(ReasonCodes, ", "))
	}
	switch n := utf8.RuneCountInString(reason); {
	case n < MinReasonLength:
		f.add("reason", "explain why in at least 10 characters")
	case n > 1000:
		f.add("reason", "must be at most 1000 characters")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	r, _, d, err := s.pass(ctx, p, patientID, access.BreakGlass, "breakglass.open")
	if err != nil {
		return nil, err
	}
	k, err := s.patientKey(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	now := s.now()
	g := &Grant{ID: NewID(), PatientID: r.id, UserID: p.UserID, ReasonCode: code, Reason: reason, CreatedAt: now, ExpiresAt: now.Add(s.glassFor)}
	sealed, err := Seal(k, reason, "break_glass_grants", g.ID, "reason")
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO break_glass_grants (id, workspace_id, patient_id, user_id, reason_code, reason, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, g.ID, r.workspaceID, r.id, p.UserID, code, sealed, now.UnixMicro(), g.ExpiresAt.UnixMicro()); err != nil {
			return fmt.Errorf("insert break-glass grant: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO break_glass_reviews (grant_id, workspace_id, status) VALUES ($1, $2, 'pending')`,
			g.ID, r.workspaceID); err != nil {
			return fmt.Errorf("queue break-glass review: %w", err)
		}
		return nil
	})
	if err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.BreakGlass, "breakglass.open", r), d)
		return nil, err
	}
	if s.notifier != nil {
		a := BreakGlassAlert{WorkspaceID: r.workspaceID, GrantID: g.ID, PatientID: r.id, UserID: p.UserID, ReasonCode: code, ExpiresAt: g.ExpiresAt}
		if err := s.notifier.BreakGlassOpened(ctx, a); err != nil {
			s.log.Error("break-glass alert not sent; the review queue still holds it", "grant_id", g.ID, "err", err.Error())
		}
	}
	return g, nil
}

// Review is a break-glass grant awaiting or past privacy officer review.
type Review struct {
	Grant
	PatientName string // given and family name, for the reviewer
	Status      string // "pending" or "reviewed"
	ReviewedBy  string
	ReviewedAt  time.Time
	Notes       string
	// Changes are the care-team changes asked for under the grant, each
	// waiting for (or given) a privacy officer's decision.
	Changes []CareTeamChange
}

// PendingChanges counts the changes still waiting for a decision.
func (v Review) PendingChanges() int {
	n := 0
	for _, c := range v.Changes {
		if c.Status == "pending" {
			n++
		}
	}
	return n
}

// Reviews lists the workspace's break-glass reviews, pending first then
// newest, for a privacy officer. Reading the reasons is a PHI access on each
// patient, so each review shown gets its own audit entry.
func (s *Service) Reviews(ctx context.Context, p *access.Principal) ([]Review, error) {
	ws := ""
	if p != nil {
		ws = p.WorkspaceID
	}
	c := Check{Action: access.AuditRead, AuditAction: "breakglass.review_list", ResourceType: "workspace", ResourceID: ws,
		Resource: access.Resource{Kind: access.KindAudit, WorkspaceID: ws}}
	if _, _, err := s.gate.Pass(ctx, p, c); err != nil {
		return nil, err
	}
	// A review with a care-team change still to decide stays at the top
	// even once the access itself was reviewed.
	rows, err := s.db.Read.QueryContext(ctx, `SELECT g.id, g.patient_id, g.user_id, g.reason_code, g.reason, g.created_at, g.expires_at,
		  r.status, COALESCE(r.reviewed_by, ''), COALESCE(r.reviewed_at, 0), r.notes, p.summary
		FROM break_glass_reviews r JOIN break_glass_grants g ON g.id = r.grant_id JOIN patients p ON p.id = g.patient_id
		WHERE r.workspace_id = $1
		ORDER BY CASE WHEN r.status = 'pending' OR EXISTS (SELECT 1 FROM care_team_changes c WHERE c.grant_id = g.id AND c.status = 'pending') THEN 0 ELSE 1 END,
		  g.created_at DESC LIMIT 200`, ws)
	if err != nil {
		return nil, fmt.Errorf("list break-glass reviews: %w", err)
	}
	type sealed struct{ reason, notes, summary []byte }
	var out []Review
	var cts []sealed
	for rows.Next() {
		var v Review
		var ct sealed
		var at, exp, rat int64
		if err := rows.Scan(&v.ID, &v.PatientID, &v.UserID, &v.ReasonCode, &ct.reason, &at, &exp, &v.Status, &v.ReviewedBy, &rat, &ct.notes, &ct.summary); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list break-glass reviews: %w", err)
		}
		v.CreatedAt, v.ExpiresAt = time.UnixMicro(at), time.UnixMicro(exp)
		if rat > 0 {
			v.ReviewedAt = time.UnixMicro(rat)
		}
		out = append(out, v)
		cts = append(cts, ct)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list break-glass reviews: %w", err)
	}
	checks := make([]Check, len(out))
	for i, v := range out {
		checks[i] = Check{Action: access.AuditRead, AuditAction: "breakglass.review_read", ResourceType: "break_glass_grant", ResourceID: v.ID,
			Resource: access.Resource{Kind: access.KindAudit, WorkspaceID: ws, PatientID: v.PatientID}}
	}
	rcs, err := s.gate.PassAll(ctx, p, checks)
	if err != nil {
		return nil, err
	}
	changes, err := s.careTeamChanges(ctx, ws)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.openReview(ctx, rcs[i], ws, &out[i], cts[i].reason, cts[i].notes, cts[i].summary); err != nil {
			return nil, err
		}
		out[i].Changes = changes[out[i].ID]
	}
	return out, nil
}

func (s *Service) openReview(ctx context.Context, rc audit.Receipt, ws string, v *Review, reason, notes, summary []byte) error {
	k, err := s.keys.PatientKey(ctx, ws, v.PatientID)
	if err != nil {
		return fmt.Errorf("patient key: %w", err)
	}
	if err := Open(rc, v.PatientID, k, reason, "break_glass_grants", v.ID, "reason", &v.Reason); err != nil {
		return err
	}
	var sum Summary
	if err := Open(rc, v.PatientID, k, summary, tablePatients, v.PatientID, colSummary, &sum); err != nil {
		return err
	}
	v.PatientName = strings.TrimSpace(sum.GivenName + " " + sum.FamilyName)
	if len(notes) > 0 {
		return Open(rc, v.PatientID, k, notes, "break_glass_reviews", v.ID, "notes", &v.Notes)
	}
	return nil
}

// MarkReviewed closes a break-glass review with the privacy officer's notes.
func (s *Service) MarkReviewed(ctx context.Context, p *access.Principal, grantID, notes string) error {
	notes = strings.TrimSpace(notes)
	if utf8.RuneCountInString(notes) > 4000 {
		return Invalid("notes", "must be at most 4000 characters")
	}
	var ws, patientID, status string
	err := s.db.Read.QueryRowContext(ctx, `SELECT r.workspace_id, g.patient_id, r.status FROM break_glass_reviews r
		JOIN break_glass_grants g ON g.id = r.grant_id WHERE r.grant_id = $1`, grantID).Scan(&ws, &patientID, &status)
	c := Check{Action: access.AuditRead, AuditAction: "breakglass.review", ResourceType: "break_glass_grant", ResourceID: grantID,
		Resource: access.Resource{Kind: access.KindAudit, WorkspaceID: ws, PatientID: patientID}}
	if errors.Is(err, sql.ErrNoRows) {
		return s.gate.Refuse(ctx, p, c, ReasonNotFound, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("load break-glass review: %w", err)
	}
	_, d, err := s.gate.Pass(ctx, p, c)
	if err != nil {
		return err
	}
	if status == "reviewed" {
		s.gate.Failed(ctx, p, c, d)
		return Invalid("status", "this access has already been reviewed")
	}
	k, err := s.keys.PatientKey(ctx, ws, patientID)
	if err != nil {
		return fmt.Errorf("patient key: %w", err)
	}
	sealed, err := Seal(k, notes, "break_glass_reviews", grantID, "notes")
	if err != nil {
		return err
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE break_glass_reviews SET status = 'reviewed', reviewed_by = $1, reviewed_at = $2, notes = $3
		WHERE grant_id = $4 AND status = 'pending'`, p.UserID, s.now().UnixMicro(), sealed, grantID)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		s.gate.Failed(ctx, p, c, d)
		return fmt.Errorf("mark break-glass review done: %w", err)
	}
	if n == 0 { // another officer closed it since it was loaded
		s.gate.Failed(ctx, p, c, d)
		return Invalid("status", "this access has already been reviewed")
	}
	return nil
}
