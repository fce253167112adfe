package identity_test

import (
	"slices"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

// TestTokenCreationRefusesScopesThatGrantNothing: every scope offered is one
// the access policy maps to actions, and a scope it does not know (which
// would grant nothing) is refused at creation, alone or beside a good one.
func TestTokenCreationRefusesScopesThatGrantNothing(t *testing.T) {
	for _, sc := range identity.Scopes {
		if len(access.ScopeActions(sc)) == 0 {
			t.Errorf("scope %s is offered but grants no action", sc)
		}
	}
	if !slices.Equal(identity.Scopes, access.ScopeNames()) {
		t.Errorf("offered scopes %v, policy scopes %v", identity.Scopes, access.ScopeNames())
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		for _, scopes := range [][]string{{"records:delete"}, {"media:upload", "media:write"}, {""}, {"Records:Read"}} {
			if _, _, err := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "x", Scopes: scopes}, meta); codeOf(err) != "scope_unknown" {
				t.Errorf("scopes %q: %v, want scope_unknown", scopes, err)
			}
		}
		for _, sc := range identity.Scopes {
			tok, _, err := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "t " + sc, Scopes: []string{sc}}, meta)
			if err != nil || !slices.Equal(tok.Scopes, []string{sc}) {
				t.Errorf("scope %s: %v %v", sc, tok, err)
			}
		}
	})
}
