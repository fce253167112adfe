package notice

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Processor is a third party that processes data for the platform or a
// workspace. The privacy notice page lists them from this registry, so the
// list cannot drift from what is actually used.
type Processor struct {
	ID             string
	WorkspaceID    string // "" for the platform's own processors
	Name           string
	Purpose        string
	BAA            bool   // a business associate agreement is in place
	ReceivesPHI    bool   // it receives protected health information
	DataCategories string // what data it receives, in plain words
	Location       string // where it processes the data
	CreatedAt      time.Time
}

// ProcessorLimit bounds each processor field.
const ProcessorLimit = 500

// AddProcessor registers a processor.
func (s *Service) AddProcessor(ctx context.Context, p *access.Principal, in Processor) (Processor, error) {
	in.Name, in.Purpose = strings.TrimSpace(in.Name), strings.TrimSpace(in.Purpose)
	in.DataCategories, in.Location = strings.TrimSpace(in.DataCategories), strings.TrimSpace(in.Location)
	f := map[string]string{}
	for field, v := range map[string]string{"name": in.Name, "purpose": in.Purpose, "data_categories": in.DataCategories, "location": in.Location} {
		switch {
		case v == "":
			f[field] = "This field is required."
		case badText(v, ProcessorLimit):
			f[field] = fmt.Sprintf("Use at most %d bytes of text.", ProcessorLimit)
		}
	}
	if len(f) > 0 {
		return Processor{}, &ValidationError{Fields: f}
	}
	if !mayManage(p, in.WorkspaceID) {
		return Processor{}, ErrDenied
	}
	in.ID, in.CreatedAt = newID("pr_"), s.now().UTC()
	if _, err := s.appendAudit(ctx, p, audit.Event{Action: "processor.add", ResourceType: "processor", ResourceID: in.ID,
		WorkspaceID: in.WorkspaceID, Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return Processor{}, err
	}
	baa, phi := 0, 0
	if in.BAA {
		baa = 1
	}
	if in.ReceivesPHI {
		phi = 1
	}
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO processors (id, workspace_id, name, purpose, baa, receives_phi, data_categories, location, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, in.ID, in.WorkspaceID, in.Name, in.Purpose, baa, phi, in.DataCategories, in.Location, in.CreatedAt.UnixMicro())
	if err != nil {
		return Processor{}, fmt.Errorf("insert processor: %w", err)
	}
	return in, nil
}

// RetireProcessor takes a processor off the list; the row stays, so what
// the notice said at a past date can be reconstructed.
func (s *Service) RetireProcessor(ctx context.Context, p *access.Principal, id string) error {
	var ws string
	err := s.db.Read.QueryRowContext(ctx, `SELECT workspace_id FROM processors WHERE id = $1 AND retired_at = 0`, id).Scan(&ws)
	if err == sql.ErrNoRows {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read processor: %w", err)
	}
	if !mayManage(p, ws) {
		return ErrDenied
	}
	if _, err := s.appendAudit(ctx, p, audit.Event{Action: "processor.retire", ResourceType: "processor", ResourceID: id,
		WorkspaceID: ws, Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return err
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE processors SET retired_at = $1 WHERE id = $2 AND retired_at = 0`, s.now().UnixMicro(), id); err != nil {
		return fmt.Errorf("retire processor: %w", err)
	}
	return nil
}

// Processors lists a scope's processors in use ("" = the platform's), by name.
func (s *Service) Processors(ctx context.Context, workspaceID string) ([]Processor, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, workspace_id, name, purpose, baa, receives_phi, data_categories, location, created_at
		FROM processors WHERE workspace_id = $1 AND retired_at = 0 ORDER BY name, id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list processors: %w", err)
	}
	defer rows.Close()
	var out []Processor
	for rows.Next() {
		var pr Processor
		var baa, phi int
		var at int64
		if err := rows.Scan(&pr.ID, &pr.WorkspaceID, &pr.Name, &pr.Purpose, &baa, &phi, &pr.DataCategories, &pr.Location, &at); err != nil {
			return nil, fmt.Errorf("list processors: %w", err)
		}
		pr.BAA, pr.ReceivesPHI, pr.CreatedAt = baa == 1, phi == 1, time.UnixMicro(at).UTC()
		out = append(out, pr)
	}
	return out, rows.Err()
}

// BAA states of a processor, as the notice shows them.
const (
	BAAInPlace   = "in_place"
	BAAMissing   = "missing"
	BAANotNeeded = "not_needed"
)

// BAAState says whether the processor's business associate agreement is in
// place, missing (it receives PHI without one) or not needed (it receives
// no PHI and has none). Only a processor that receives no PHI is excused.
func (p Processor) BAAState() string {
	switch {
	case p.BAA:
		return BAAInPlace
	case p.ReceivesPHI:
		return BAAMissing
	}
	return BAANotNeeded
}

// BAAWords is BAAState in words fit for the notice.
func (p Processor) BAAWords() string {
	switch p.BAAState() {
	case BAAInPlace:
		return "In place"
	case BAAMissing:
		return "Missing: it receives health information without an agreement"
	}
	return "Not needed: it receives no health information"
}
