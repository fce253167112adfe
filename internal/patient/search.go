package patient

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/keys"
)

// Blind-index field names: each separates its terms from the others', so an
// MRN equal to somebody's email never matches it.
const (
	fieldName      = "patient.name"
	fieldBirthDate = "patient.birth_date"
	fieldMRN       = "patient.mrn"
	fieldEmail     = "patient.email"
)

// SearchTerms are the blind indexes a profile is found by: one per name
// token, and one each for birth date, MRN and email.
func SearchTerms(bk *keys.Key, p Profile) [][]byte {
	var out [][]byte
	for _, t := range nameTokens(keys.Normalise(p.GivenName), keys.Normalise(p.FamilyName)) {
		out = append(out, keys.BlindIndex(bk, fieldName, t))
	}
	if p.BirthDate != "" {
		out = append(out, keys.BlindIndex(bk, fieldBirthDate, p.BirthDate))
	}
	if p.MRN != "" {
		out = append(out, keys.BlindIndex(bk, fieldMRN, keys.Normalise(p.MRN)))
	}
	if p.Email != "" {
		out = append(out, keys.BlindIndex(bk, fieldEmail, keys.Normalise(p.Email)))
	}
	return dedupe(out)
}

func dedupe(ts [][]byte) [][]byte {
	sort.Slice(ts, func(i, j int) bool { return bytes.Compare(ts[i], ts[j]) < 0 })
	out := ts[:0]
	for i, t := range ts {
		if i == 0 || !bytes.Equal(t, ts[i-1]) {
			out = append(out, t)
		}
	}
	return out
}

// Query is a patient search. Every field given must match: each word of
// Name must be one of the patient's name words; BirthDate (YYYY-MM-DD), MRN
// and Email match exactly (case-insensitive). Matching is on keyed hashes,
// so a search never decrypts the workspace.
type Query struct {
	Name      string `json:"name,omitempty"`
	BirthDate string `json:"birth_date,omitempty"`
	MRN       string `json:"mrn,omitempty"`
	Email     string `json:"email,omitempty"`
}

// Validate refuses an empty query and a birth date that is not a date.
func (q *Query) Validate() error {
	q.Name, q.BirthDate, q.MRN, q.Email = strings.TrimSpace(q.Name), strings.TrimSpace(q.BirthDate), strings.TrimSpace(q.MRN), strings.TrimSpace(q.Email)
	f := fieldErrors{}
	if q.Name == "" && q.BirthDate == "" && q.MRN == "" && q.Email == "" {
		f.add("query", "enter a name, a date of birth, a medical record number or an email address")
	}
	if q.BirthDate != "" {
		if _, err := time.Parse(dateLayout, q.BirthDate); err != nil {
			f.add("birth_date", "must be a real date written YYYY-MM-DD")
		}
	}
	if len(q.Name) > 200 {
		f.add("name", "must be at most 200 characters")
	}
	if len(q.MRN) > 40 {
		f.add("mrn", "must be at most 40 characters")
	}
	if len(q.Email) > 254 {
		f.add("email", "must be at most 254 characters")
	}
	return f.err()
}

func (q Query) terms(bk *keys.Key) [][]byte {
	var out [][]byte
	for _, t := range nameTokens(keys.Normalise(q.Name)) {
		out = append(out, keys.BlindIndex(bk, fieldName, t))
	}
	if q.BirthDate != "" {
		out = append(out, keys.BlindIndex(bk, fieldBirthDate, q.BirthDate))
	}
	if q.MRN != "" {
		out = append(out, keys.BlindIndex(bk, fieldMRN, keys.Normalise(q.MRN)))
	}
	if q.Email != "" {
		out = append(out, keys.BlindIndex(bk, fieldEmail, keys.Normalise(q.Email)))
	}
	return dedupe(out)
}

// Search finds patients of p's workspace matching q, newest first, at most
// PageSize. It is audited like List (action patient.search): one entry for
// the request, one per patient shown; the terms themselves are never logged.
func (s *Service) Search(ctx context.Context, p *access.Principal, q Query) (*Page, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	ws, err := s.passList(ctx, p, "patient.search")
	if err != nil {
		return nil, err
	}
	bk, err := s.keys.BlindKey(ctx, ws)
	if err != nil {
		return nil, err
	}
	ts := q.terms(bk)
	if len(ts) == 0 {
		return nil, Invalid("name", "must contain a word")
	}
	args := []any{ws}
	ph := make([]string, len(ts))
	for i, t := range ts {
		args = append(args, t)
		ph[i] = "$" + strconv.Itoa(i+2)
	}
	sql := `SELECT p.id, p.created_at, p.summary FROM patients p WHERE p.id IN (
		SELECT patient_id FROM patient_search WHERE workspace_id = $1 AND term IN (` + strings.Join(ph, ", ") + `)
		GROUP BY patient_id HAVING COUNT(*) = ` + strconv.Itoa(len(ts)) + `)
		ORDER BY p.created_at DESC, p.id DESC LIMIT ` + strconv.Itoa(PageSize+1)
	pg, err := s.page(ctx, p, ws, "patient.search", sql, args)
	if err != nil {
		return nil, err
	}
	// A search shows one page; more matches ask for a narrower query.
	pg.More, pg.Next = pg.Next != "", ""
	return pg, nil
}
