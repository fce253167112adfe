package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// InForce returns the notice version in force for a workspace at a time:
// the newest version of the workspace's own notice published at or before
// then, else the platform's. ErrNotFound when neither had been published.
// Records store its id, so what the person was told can be shown later.
func (s *Service) InForce(ctx context.Context, workspaceID string, at time.Time) (Version, error) {
	scopes := []string{""}
	if workspaceID != "" {
		scopes = []string{workspaceID, ""}
	}
	for _, sc := range scopes {
		v, err := scanVersion(s.db.Read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM notice_versions
			WHERE workspace_id = $1 AND published_at <= $2 ORDER BY version DESC LIMIT 1`, sc, at.UnixMicro()))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Version{}, fmt.Errorf("read notice in force: %w", err)
		}
		return v, nil
	}
	return Version{}, ErrNotFound
}

// InForceID is InForce's id, or "" when no notice was in force; it is what
// a record stores. An error other than "none published" is returned, so a
// caller can refuse rather than store a record that forgot its notice.
func (s *Service) InForceID(ctx context.Context, workspaceID string, at time.Time) (string, error) {
	if s == nil {
		return "", nil
	}
	v, err := s.InForce(ctx, workspaceID, at)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return v.ID, nil
}
