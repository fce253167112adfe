package casefile

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
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/patient"
)

// Comment kinds: a comment is discussion; an annotation points at something
// (a file, a region of an image) through its anchor.
const (
	KindComment    = "comment"
	KindAnnotation = "annotation"
)

// Comment is the latest version of a comment or annotation. Edits append a
// version; Versions says how many there are.
type Comment struct {
	ID        string
	Kind      string
	AuthorID  string
	CreatedAt time.Time // of this version
	Versions  int
	Text      string
	Anchor    string // annotations: what it points at, e.g. "file:ID#x=10,y=20"
}

type commentBody struct {
	Text   string `json:"text"`
	Anchor string `json:"anchor,omitempty"`
}

func validateComment(kind, text, anchor string) error {
	f := map[string]string{}
	if kind != KindComment && kind != KindAnnotation {
		f["kind"] = "must be comment or annotation"
	}
	if strings.TrimSpace(text) == "" {
		f["text"] = "is required"
	} else if utf8.RuneCountInString(text) > 20_000 || !utf8.ValidString(text) {
		f["text"] = "must be text of at most 20,000 characters"
	}
	if kind == KindAnnotation && strings.TrimSpace(anchor) == "" {
		f["anchor"] = "an annotation needs what it points at"
	}
	if utf8.RuneCountInString(anchor) > 500 {
		f["anchor"] = "must be at most 500 characters"
	}
	if len(f) > 0 {
		return &patient.InvalidError{Fields: f}
	}
	return nil
}

func commentRow(id string, version int) string { return fmt.Sprintf("%s/%d", id, version) }

// AddComment adds a comment or annotation to a case.
func (s *Service) AddComment(ctx context.Context, p *access.Principal, caseID, kind, text, anchor string) (*Comment, error) {
	if kind == "" {
		kind = KindComment
	}
	if err := validateComment(kind, text, anchor); err != nil {
		return nil, err
	}
	r, _, d, err := s.pass(ctx, p, caseID, access.CaseComment, "case.comment")
	if err != nil {
		return nil, err
	}
	c := &Comment{ID: patient.NewID(), Kind: kind, AuthorID: p.UserID, CreatedAt: s.now(), Versions: 1, Text: text, Anchor: anchor}
	if err := s.insertComment(ctx, r, c, 1); err != nil {
		s.gate.Failed(ctx, p, caseCheck(access.CaseComment, "case.comment", r), d)
		return nil, err
	}
	return c, nil
}

func (s *Service) insertComment(ctx context.Context, r *caseRow, c *Comment, version int) error {
	k, err := s.keys.PatientKey(ctx, r.workspaceID, r.patientID)
	if err != nil {
		return fmt.Errorf("patient key: %w", err)
	}
	body, err := patient.Seal(k, commentBody{Text: c.Text, Anchor: c.Anchor}, "case_comments", commentRow(c.ID, version), "body")
	if err != nil {
		return err
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO case_comments (id, version, case_id, kind, author_id, created_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, version, r.id, c.Kind, c.AuthorID, c.CreatedAt.UnixMicro(), body)
	if err != nil {
		return fmt.Errorf("insert comment: %w", err)
	}
	return nil
}

// ReasonNotAuthor is the audit reason when someone edits another's comment.
const ReasonNotAuthor = "not_comment_author"

// EditComment appends a new version of a comment; only its author may. The
// earlier versions stay in the table.
func (s *Service) EditComment(ctx context.Context, p *access.Principal, caseID, commentID, text, anchor string) (*Comment, error) {
	var kind, author string
	var version int
	err := s.db.Read.QueryRowContext(ctx, `SELECT kind, author_id, version FROM case_comments WHERE id = $1 AND case_id = $2
		ORDER BY version DESC LIMIT 1`, commentID, caseID).Scan(&kind, &author, &version)
	if errors.Is(err, sql.ErrNoRows) {
		c := patient.Check{Action: access.CaseComment, AuditAction: "case.comment_edit", ResourceType: "case", ResourceID: caseID}
		return nil, s.gate.Refuse(ctx, p, c, patient.ReasonNotFound, patient.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load comment: %w", err)
	}
	r, err := s.loadCase(ctx, s.db.Read, p, caseID)
	if err != nil {
		return nil, err
	}
	chk := caseCheck(access.CaseComment, "case.comment_edit", r)
	if dd := access.Decide(p, access.CaseComment, r.resource()); dd.Allow && author != userOf(p) {
		return nil, s.gate.Refuse(ctx, p, chk, ReasonNotAuthor, patient.ErrForbidden)
	}
	// Input is judged only for someone the policy lets comment, so a
	// stranger learns nothing from a validation answer; everyone else is
	// refused (and audited) by Pass.
	if access.Decide(p, access.CaseComment, r.resource()).Allow {
		if err := validateComment(kind, text, anchor); err != nil {
			return nil, err
		}
	}
	_, d, err := s.gate.Pass(ctx, p, chk)
	if err != nil {
		return nil, err
	}
	c := &Comment{ID: commentID, Kind: kind, AuthorID: author, CreatedAt: s.now(), Versions: version + 1, Text: text, Anchor: anchor}
	if err := s.insertComment(ctx, r, c, version+1); err != nil {
		s.gate.Failed(ctx, p, chk, d)
		if s.db.Dialect.IsUniqueViolation(err) {
			return nil, patient.ErrConflict
		}
		return nil, err
	}
	return c, nil
}

// comments returns the latest version of each comment, oldest first.
func (s *Service) comments(ctx context.Context, rc audit.Receipt, k *keys.Key, r *caseRow) ([]Comment, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT c.id, c.version, c.kind, c.author_id, c.created_at, c.body,
		  (SELECT MIN(f.created_at) FROM case_comments f WHERE f.id = c.id)
		FROM case_comments c
		WHERE c.case_id = $1 AND c.version = (SELECT MAX(v.version) FROM case_comments v WHERE v.id = c.id)
		ORDER BY 7, c.id`, r.id)
	if err != nil {
		return nil, fmt.Errorf("list comments: %w", err)
	}
	defer rows.Close()
	var out []Comment
	for rows.Next() {
		var c Comment
		var at, first int64
		var ct []byte
		if err := rows.Scan(&c.ID, &c.Versions, &c.Kind, &c.AuthorID, &at, &ct, &first); err != nil {
			return nil, fmt.Errorf("list comments: %w", err)
		}
		var b commentBody
		if err := patient.Open(rc, r.patientID, k, ct, "case_comments", commentRow(c.ID, c.Versions), "body", &b); err != nil {
			return nil, err
		}
		c.Text, c.Anchor, c.CreatedAt = b.Text, b.Anchor, time.UnixMicro(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Collaborator is a doctor invited to work on a case, possibly from another
// practice.
type Collaborator struct {
	UserID  string
	AddedBy string
	AddedAt time.Time
}

func (s *Service) collaborators(ctx context.Context, caseID string) ([]Collaborator, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, added_by, added_at FROM case_collaborators
		WHERE case_id = $1 AND removed_at IS NULL ORDER BY added_at, user_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("list collaborators: %w", err)
	}
	defer rows.Close()
	var out []Collaborator
	for rows.Next() {
		var c Collaborator
		var at int64
		if err := rows.Scan(&c.UserID, &c.AddedBy, &at); err != nil {
			return nil, fmt.Errorf("list collaborators: %w", err)
		}
		c.AddedAt = time.UnixMicro(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

func validUserID(id string) bool {
	return id != "" && len(id) <= 64 && strings.IndexFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_')
	}) < 0
}

// AddCollaborator lets userID (a clinician, possibly of another workspace)
// work on this case: read it, comment, view files, see the patient summary.
// TODO(identity): invite by email through identity's collaborator
// invitations; until merged the user id is taken as given.
func (s *Service) AddCollaborator(ctx context.Context, p *access.Principal, caseID, userID string) error {
	if !validUserID(userID) {
		return patient.Invalid("user_id", "must be a user id")
	}
	r, _, d, err := s.pass(ctx, p, caseID, access.CaseShare, "case.collaborator_add")
	if err != nil {
		return err
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO case_collaborators (case_id, user_id, added_by, added_at)
		SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM case_collaborators WHERE case_id = $1 AND user_id = $2 AND removed_at IS NULL)`,
		caseID, userID, p.UserID, s.now().UnixMicro())
	if err != nil {
		s.gate.Failed(ctx, p, caseCheck(access.CaseShare, "case.collaborator_add", r), d)
		return fmt.Errorf("add collaborator: %w", err)
	}
	return nil
}

// RemoveCollaborator ends userID's collaboration; the row stays as history.
func (s *Service) RemoveCollaborator(ctx context.Context, p *access.Principal, caseID, userID string) error {
	if !validUserID(userID) {
		return patient.Invalid("user_id", "must be a user id")
	}
	r, _, d, err := s.pass(ctx, p, caseID, access.CaseShare, "case.collaborator_remove")
	if err != nil {
		return err
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE case_collaborators SET removed_at = $1, removed_by = $2
		WHERE case_id = $3 AND user_id = $4 AND removed_at IS NULL`, s.now().UnixMicro(), p.UserID, caseID, userID)
	if err != nil {
		s.gate.Failed(ctx, p, caseCheck(access.CaseShare, "case.collaborator_remove", r), d)
		return fmt.Errorf("remove collaborator: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		s.gate.Failed(ctx, p, caseCheck(access.CaseShare, "case.collaborator_remove", r), d)
		if err != nil {
			return fmt.Errorf("remove collaborator: %w", err)
		}
		return patient.Invalid("user_id", "is not a collaborator on this case")
	}
	return nil
}
