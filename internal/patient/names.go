package patient

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
)

// maxNames bounds one Names call: a page or an export page names at most
// this many patients at once.
const maxNames = 1000

// Names returns the display names ("Given Family") of the patients of p's
// workspace among ids, for a page that shows who entries are about (the
// audit log). Names are PHI, so each patient named is one audited summary
// read, entered under auditAction with the patient's id, exactly like a row
// of the patient list; the entries are appended concurrently and
// group-committed together. A patient the policy refuses, or of another
// workspace, or unknown, is left out of the map. An audit failure is an
// error and names nobody.
func (s *Service) Names(ctx context.Context, p *access.Principal, ids []string, auditAction string) (map[string]string, error) {
	out := map[string]string{}
	if p == nil || p.WorkspaceID == "" {
		return out, nil
	}
	seen := map[string]bool{}
	args := []any{p.WorkspaceID}
	var ph []string
	for _, id := range ids {
		if id == "" || seen[id] || len(args) > maxNames {
			continue
		}
		seen[id] = true
		args = append(args, id)
		ph = append(ph, "$"+strconv.Itoa(len(args)))
	}
	if len(ph) == 0 {
		return out, nil
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, summary FROM patients WHERE workspace_id = $1 AND id IN (`+
		strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("name patients: %w", err)
	}
	type named struct {
		id  string
		sum []byte
	}
	var rs []named
	for rows.Next() {
		var n named
		if err := rows.Scan(&n.id, &n.sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("name patients: %w", err)
		}
		rs = append(rs, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("name patients: %w", err)
	}
	checks := make([]Check, len(rs))
	for i, r := range rs {
		checks[i] = Check{Action: access.PatientReadSummary, AuditAction: auditAction, ResourceType: "patient", ResourceID: r.id,
			Resource: access.Resource{Kind: access.KindPatient, WorkspaceID: p.WorkspaceID, PatientID: r.id}}
	}
	rcs, err := s.gate.PassAll(ctx, p, checks)
	if err != nil {
		return nil, err
	}
	for i, r := range rs {
		if !rcs[i].Valid() {
			continue // refused; the denial is in the log
		}
		k, err := s.keys.PatientKey(ctx, p.WorkspaceID, r.id)
		if err != nil {
			return nil, fmt.Errorf("patient key: %w", err)
		}
		var sum Summary
		if err := Open(rcs[i], r.id, k, r.sum, tablePatients, r.id, colSummary, &sum); err != nil {
			return nil, err
		}
		out[r.id] = strings.TrimSpace(sum.GivenName + " " + sum.FamilyName)
	}
	return out, nil
}
