package identity

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NoticeReader is one account a privacy notice applies to, and since when.
type NoticeReader struct {
	UserID string
	Since  time.Time // when the account (or its link to the workspace) was created
}

// NoticeAudience lists the accounts a privacy notice applies to that
// existed at or before at: for the platform notice (ws "") every account;
// for a workspace's notice its members and the accounts linked to its
// patients (the patients themselves and their representatives). The list
// names accounts by id only; that a person is a practice's patient is PHI,
// so it goes to no log.
func (s *Service) NoticeAudience(ctx context.Context, ws string, at time.Time) ([]NoticeReader, error) {
	q := `SELECT id, created_at FROM users WHERE created_at <= $1 ORDER BY id`
	args := []any{at.UnixMicro()}
	if ws != "" {
		q = `SELECT user_id, MIN(created_at) FROM (
			SELECT user_id, created_at FROM memberships WHERE workspace_id = $2 AND created_at <= $1
			UNION ALL
			SELECT user_id, created_at FROM patient_users WHERE workspace_id = $2 AND created_at <= $1
		) a GROUP BY user_id ORDER BY user_id`
		args = append(args, ws)
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list notice audience: %w", err)
	}
	defer rows.Close()
	var out []NoticeReader
	for rows.Next() {
		var r NoticeReader
		var since int64
		if err := rows.Scan(&r.UserID, &since); err != nil {
			return nil, fmt.Errorf("list notice audience: %w", err)
		}
		r.Since = time.UnixMicro(since).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Contact is where a person is mailed and what they are called.
type Contact struct {
	Name  string
	Email string
}

// Contacts opens the sealed names and addresses of the accounts ids, for
// transactional mail. Unknown ids are left out.
func (s *Service) Contacts(ctx context.Context, ids []string) (map[string]Contact, error) {
	out := make(map[string]Contact, len(ids))
	for start := 0; start < len(ids); start += displayNameBatch {
		batch := ids[start:min(start+displayNameBatch, len(ids))]
		ph := make([]string, len(batch))
		args := make([]any, len(batch))
		for i, id := range batch {
			ph[i], args[i] = "$"+strconv.Itoa(i+1), id
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT id, email_enc, name_enc FROM users WHERE id IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
		for rows.Next() {
			var id string
			var email, name []byte
			if err := rows.Scan(&id, &email, &name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read contacts: %w", err)
			}
			var c Contact
			if c.Email, err = s.openText("users", id, "email_enc", email); err != nil {
				rows.Close()
				return nil, err
			}
			if c.Name, err = s.openText("users", id, "name_enc", name); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
	}
	return out, nil
}
