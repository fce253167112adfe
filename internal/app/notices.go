package app

import (
	"context"
	"time"
)

// noticeInForce is the id of the privacy notice version in force for a
// workspace at a time ("" if none): records store it when they are made.
func (a *App) noticeInForce(ctx context.Context, workspaceID string, at time.Time) (string, error) {
	return a.Notices.InForceID(ctx, workspaceID, at)
}
