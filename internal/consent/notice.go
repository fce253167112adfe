package consent

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// NoticeInForce returns the id of the privacy notice version in force for
// a workspace at a time ("" when none was published); the notice service's
// InForceID has this shape. Consent does not import notice, so the wiring
// passes the function in.
type NoticeInForce func(ctx context.Context, workspaceID string, at time.Time) (string, error)

// SetNoticeInForce makes every consent event and consent text recorded from
// now on remember the privacy notice version it was given under.
func (s *Service) SetNoticeInForce(f NoticeInForce) { s.noticeInForce = f }

// noticeAt is the notice id to store: NULL when none is known.
func (s *Service) noticeAt(ctx context.Context, workspaceID string, at time.Time) (sql.NullString, error) {
	if s.noticeInForce == nil {
		return sql.NullString{}, nil
	}
	id, err := s.noticeInForce(ctx, workspaceID, at)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("notice in force: %w", err)
	}
	return sql.NullString{String: id, Valid: id != ""}, nil
}
