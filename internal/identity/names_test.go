package identity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestDisplayNamesAndHeaderNamesOnBothDatabases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		ada := f.verifiedUser(t, "Ada Doc", "ada@clinic.example", true)
		bo := f.verifiedUser(t, "Bo Doc", "bo@clinic.example", true)
		ids := []string{ada, "", "no-such-user", bo, ada}
		for i := range 600 { // more than one batch
			ids = append(ids, fmt.Sprintf("unknown-%d", i))
		}
		got := f.svc.DisplayNames(ctx, append(ids, bo))
		if len(got) != 2 || got[ada] != "Ada Doc" || got[bo] != "Bo Doc" {
			t.Fatalf("names %v", got)
		}
		var ws string
		if err := d.Read.QueryRow(`SELECT workspace_id FROM memberships WHERE user_id = $1`, ada).Scan(&ws); err != nil {
			t.Fatal(err)
		}
		name, wsName, err := f.svc.SignedInAs(ctx, ada, ws)
		if err != nil || name != "Ada Doc" || wsName == "" {
			t.Fatalf("header for a member: %q %q %v", name, wsName, err)
		}
		if name, wsName, err := f.svc.SignedInAs(ctx, bo, ws); err != nil || name != "Bo Doc" || wsName != "" {
			t.Fatalf("header for someone else's workspace: %q %q %v", name, wsName, err)
		}
		if _, _, err := f.svc.SignedInAs(ctx, "no-such-user", ws); err == nil {
			t.Fatal("header for an unknown user")
		}
	})
}

func TestDisplayNamesAndTheHeaderAreOneQueryEach(t *testing.T) {
	d, tr := dbtest.TracedSQLite(t)
	f := newFixture(t, d)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		ids = append(ids, f.verifiedUser(t, fmt.Sprintf("Doc %d", i), fmt.Sprintf("doc%d@clinic.example", i), true))
	}
	users := func(q string) bool { return strings.Contains(q, "FROM users") }
	tr.Reset()
	if got := f.svc.DisplayNames(ctx, ids); len(got) != 5 {
		t.Fatalf("names %v", got)
	}
	if n := tr.Count(users); n != 1 {
		t.Errorf("DisplayNames of 5 users ran %d queries", n)
	}
	tr.Reset()
	if _, _, err := f.svc.SignedInAs(ctx, ids[0], "ws"); err != nil {
		t.Fatal(err)
	}
	if n := tr.Count(users); n != 1 {
		t.Errorf("the header's names took %d queries", n)
	}
}
