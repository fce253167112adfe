package db_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestMigrationsApplyOnceAndAreRecorded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ms, err := db.Migrations(d.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Fatalf("applied %d migrations, embedded %d", n, len(ms))
		}
		if err := db.Migrate(ctx, d); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestRefusesSchemaNewerThanBinary(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Write.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (99999, '99999_future.sql', 'x', 0)`); err != nil {
			t.Fatal(err)
		}
		err := db.Migrate(ctx, d)
		if err == nil || !strings.Contains(err.Error(), "newer custodia") {
			t.Fatalf("want refusal naming a newer binary, got %v", err)
		}
	})
}

func TestRefusesChangedMigration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Write.ExecContext(ctx, `UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1`); err != nil {
			t.Fatal(err)
		}
		err := db.Migrate(ctx, d)
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("want checksum refusal, got %v", err)
		}
	})
}

func TestFailedTransactionLeavesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, owner_kind, owner_id, wrapping_key, created_at) VALUES ('k1', 'workspace', 'w1', 'm', 0)`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, owner_kind, owner_id, wrapping_key, created_at) VALUES ('k1', 'workspace', 'w2', 'm', 0)`)
			if !d.Dialect.IsUniqueViolation(err) {
				t.Errorf("want unique violation, got %v", err)
			}
			return err
		})
		if err == nil {
			t.Fatal("transaction should fail")
		}
		var n int
		if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("rows left after failed transaction: %d", n)
		}
	})
}
