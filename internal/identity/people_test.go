package identity_test

import (
	"context"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestFindPeopleByPartOfANameOrAnEmailForThePrivacyOfficerOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		ada := f.verifiedUser(t, "Ada Lovelace", "ada@clinic.example", true)
		outsider := f.verifiedUser(t, "Olga Outside", "olga@elsewhere.example", true)
		var ws string
		if err := d.Read.QueryRow(`SELECT workspace_id FROM memberships WHERE user_id = $1`, ada).Scan(&ws); err != nil {
			t.Fatal(err)
		}
		officer := &access.Principal{UserID: "po", WorkspaceID: ws, Role: access.RolePrivacyOfficer}
		for _, c := range []struct {
			q    string
			want string
		}{
			{"love", ada},                        // part of a member's name, any case
			{"ADA@clinic.example", ada},          // a member's email, any case
			{"olga@elsewhere.example", outsider}, // an account outside the workspace, by exact email
		} {
			got, err := f.svc.FindPeople(ctx, officer, ws, c.q)
			if err != nil || len(got) != 1 || got[0].UserID != c.want || got[0].Name == "" {
				t.Errorf("find %q: %+v %v", c.q, got, err)
			}
		}
		if got, _ := f.svc.FindPeople(ctx, officer, ws, "Olga"); len(got) != 0 {
			t.Errorf("a name outside the workspace was found: %+v", got)
		}
		admin := &access.Principal{UserID: ada, WorkspaceID: ws, Role: access.RoleAdmin}
		if _, err := f.svc.FindPeople(ctx, admin, ws, "love"); err == nil {
			t.Error("an admin searched people for the audit log")
		}
	})
}
