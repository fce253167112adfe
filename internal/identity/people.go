package identity

import (
	"context"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
)

// Person is an account as a search for people shows it.
type Person struct {
	UserID string
	Name   string
	Email  string // empty for an account found outside the workspace's members
}

// FindPeople finds accounts by name or email for the workspace's privacy
// officer, who filters the audit log by person: the members of ws whose
// name contains q or whose email is q (case-insensitive; names are sealed,
// so the members are opened and matched here), and any other account whose
// email is exactly q (a collaborating clinician, a patient's portal
// account). Only the privacy officer of ws may search.
func (s *Service) FindPeople(ctx context.Context, p *access.Principal, ws, q string) ([]Person, error) {
	if err := requireRole(p, ws, access.RolePrivacyOfficer); err != nil {
		return nil, err
	}
	members, err := s.Members(ctx, p, ws)
	if err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	needle := strings.ToLower(q)
	var out []Person
	seen := map[string]bool{}
	for _, m := range members {
		if needle != "" && (strings.Contains(strings.ToLower(m.Name), needle) || strings.EqualFold(m.Email, q)) {
			out = append(out, Person{UserID: m.UserID, Name: m.Name, Email: m.Email})
			seen[m.UserID] = true
		}
	}
	if strings.Contains(q, "@") {
		if u, _, err := s.userByEmail(ctx, q); err == nil && !seen[u.ID] {
			out = append(out, Person{UserID: u.ID, Name: s.DisplayNames(ctx, []string{u.ID})[u.ID]})
		}
	}
	return out, nil
}
