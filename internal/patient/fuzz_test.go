package patient

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzProfile feeds arbitrary JSON profiles (the API's input) through
// normalising and validation: no panic, and a profile that validates has
// only text a page can show.
func FuzzProfile(f *testing.F) {
	f.Add([]byte(`{"given_name":"Anna","family_name":"Smith","birth_date":"1980-01-02","email":"a@example.org","height_cm":170}`))
	f.Add([]byte(`{"given_name":"\u0000","birth_date":"2001-02-30","phone":"++1"}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Profile
		if json.Unmarshal(b, &p) != nil {
			return
		}
		p.Normalise()
		if p.Validate(now) == nil {
			if p.GivenName == "" || p.FamilyName == "" || age(p.BirthDate, now) < 0 {
				t.Fatalf("accepted %+v", p)
			}
			_ = nameTokens(p.GivenName, p.FamilyName)
		}
	})
}

// FuzzCursor: list cursors come back from clients.
func FuzzCursor(f *testing.F) {
	f.Add("1700000000000000.0123456789abcdef0123456789abcdef")
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, c string) {
		if _, id, ok := parseCursor(c); ok && len(id) != 32 {
			t.Fatalf("accepted id %q", id)
		}
	})
}

// FuzzQuery: search queries come from clients.
func FuzzQuery(f *testing.F) {
	f.Add("anna smith", "1980-01-02", "MRN-1", "a@example.org")
	f.Fuzz(func(t *testing.T, name, dob, mrn, email string) {
		q := Query{Name: name, BirthDate: dob, MRN: mrn, Email: email}
		_ = q.Validate()
	})
}
