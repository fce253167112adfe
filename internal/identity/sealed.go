package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/keys"
)

// Account fields at rest. A portal account's address and name link a named
// person to a clinic, so every account's email and display name (and every
// invitee's address) are sealed with the platform's account key
// (keys.Keyring.AccountKey), bound to their table, row and column, and the
// email is found through a blind index. No rule guesses which accounts are
// patients'. The columns users.email, users.name and invitations.email of
// migration 0100 stay only because SQLite cannot drop a UNIQUE column: they
// hold the user id, '' and '' (see 0120_account_fields_sealed.sql).

// emailIndexField separates the email's blind index from any other, and is
// shared by users and invitations so the two can be compared.
const emailIndexField = "account.email"

// emailIndex is the blind index of an address: a keyed HMAC of its
// normalised form, so equal addresses match and nobody without the key can
// test a guess against the database.
func (s *Service) emailIndex(email string) []byte {
	return keys.BlindIndex(s.acct, emailIndexField, normalizeEmail(email))
}

func (s *Service) sealText(table, rowID, column, v string) ([]byte, error) {
	ct, err := keys.SealField(s.acct, []byte(v), keys.FieldAD{Table: table, RowID: rowID, Column: column})
	if err != nil {
		return nil, fmt.Errorf("seal %s.%s: %w", table, column, err)
	}
	return ct, nil
}

// errUnsealed is a row still holding its fields in the legacy plaintext
// columns: SealAccounts has not run over this database.
var errUnsealed = errors.New("account fields are not sealed yet; start the server once to seal them")

func (s *Service) openText(table, rowID, column string, ct []byte) (string, error) {
	if ct == nil {
		return "", fmt.Errorf("open %s.%s of %s: %w", table, column, rowID, errUnsealed)
	}
	pt, err := keys.OpenField(s.acct, ct, keys.FieldAD{Table: table, RowID: rowID, Column: column})
	if err != nil {
		return "", fmt.Errorf("open %s.%s of %s: %w", table, column, rowID, err)
	}
	return string(pt), nil
}

// sealedUser is a new account's fields as the users table stores them.
type sealedUser struct {
	email, name, index []byte
}

func (s *Service) sealUser(uid, email, name string) (sealedUser, error) {
	e, err := s.sealText("users", uid, "email_enc", normalizeEmail(email))
	if err != nil {
		return sealedUser{}, err
	}
	n, err := s.sealText("users", uid, "name_enc", name)
	if err != nil {
		return sealedUser{}, err
	}
	return sealedUser{email: e, name: n, index: s.emailIndex(email)}, nil
}

// insertUserSQL creates an account. The legacy email column takes the user
// id ($1) and name an empty string: neither may hold the person's details.
const insertUserSQL = `INSERT INTO users (id, email, name, email_enc, name_enc, email_index, password_hash, email_verified_at, created_at, password_at)
	VALUES ($1, $1, '', $2, $3, $4, $5, $6, $7, $7)`

// insertUser seals the account's fields and inserts it in tx; verified
// is the verification time or nil.
func (s *Service) insertUser(ctx context.Context, tx *sql.Tx, uid, email, name, hash string, verified any, created int64) error {
	su, err := s.sealUser(uid, email, name)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, insertUserSQL, uid, su.email, su.name, su.index, hash, verified, created)
	return err
}

// SealAccounts moves account fields written before migration 0120 out of
// the plaintext columns: each user's email and name and each invitation's
// address are sealed, indexed, and the plaintext overwritten (the database
// runs with secure_delete, so SQLite zeroes the freed bytes). It is
// idempotent and safe to run from several servers at once: a row is
// rewritten only while it is still unsealed. It returns how many rows it
// sealed. The server runs it at start-up, after the SQL migrations.
func (s *Service) SealAccounts(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		n = 0
		type legacy struct{ id, email, name string }
		read := func(q string) ([]legacy, error) {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []legacy
			for rows.Next() {
				var l legacy
				if err := rows.Scan(&l.id, &l.email, &l.name); err != nil {
					return nil, err
				}
				out = append(out, l)
			}
			return out, rows.Err()
		}
		users, err := read(`SELECT id, email, name FROM users WHERE email_enc IS NULL`)
		if err != nil {
			return fmt.Errorf("read unsealed accounts: %w", err)
		}
		for _, u := range users {
			su, err := s.sealUser(u.id, u.email, u.name)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE users SET email_enc = $1, name_enc = $2, email_index = $3, email = id, name = ''
				WHERE id = $4 AND email_enc IS NULL`, su.email, su.name, su.index, u.id)
			if err != nil {
				return fmt.Errorf("seal account %s: %w", u.id, err)
			}
			c, _ := res.RowsAffected()
			n += int(c)
		}
		invs, err := read(`SELECT id, email, '' FROM invitations WHERE email_enc IS NULL`)
		if err != nil {
			return fmt.Errorf("read unsealed invitations: %w", err)
		}
		for _, inv := range invs {
			e, err := s.sealText("invitations", inv.id, "email_enc", normalizeEmail(inv.email))
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE invitations SET email_enc = $1, email_index = $2, email = '' WHERE id = $3 AND email_enc IS NULL`,
				e, s.emailIndex(inv.email), inv.id)
			if err != nil {
				return fmt.Errorf("seal invitation %s: %w", inv.id, err)
			}
			c, _ := res.RowsAffected()
			n += int(c)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seal account fields: %w", err)
	}
	return n, nil
}
