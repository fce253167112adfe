package apptest

import (
	"context"
	"testing"

	"github.com/custodia-health/custodia/internal/identity"
)

// SignIn signs an existing account in with the real password sign-in and
// returns a client holding its session (the principal is left for the
// caller to fill in if it needs one).
func (e *Env) SignIn(t testing.TB, email, password string) *Account {
	t.Helper()
	res, err := e.App.Identity.SignIn(context.Background(), email, password, identity.Meta{ClientAddr: "127.0.0.1", RequestID: "apptest-signin"})
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	return &Account{Client: e.client(res.Token)}
}
