package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are forward-only SQL files named NNNN_name.sql, one folder per
// dialect. Version ranges are reserved per domain so that parallel work does
// not collide: 0001-0099 foundation, 0100 identity, 0200 audit, 0300 patients
// and cases, 0400 media, 0500 rehabilitation, 0600 consent and notices.
//
//go:embed migrations
var migrationFS embed.FS

// Migration is one embedded schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// Migrations returns the embedded migrations for a dialect in version order.
func Migrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", d.Name)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and an underscore", name)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: name, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// Migrate applies every pending migration, each in its own transaction. It
// refuses to run when the database holds a migration this binary does not
// know (a newer binary has been there) or when an applied migration's
// checksum no longer matches its file.
func Migrate(ctx context.Context, d *DB) error {
	ms, err := Migrations(d.Dialect)
	if err != nil {
		return err
	}
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, d.Write)
	if err != nil {
		return err
	}
	known := map[int]Migration{}
	maxKnown := 0
	for _, m := range ms {
		known[m.Version] = m
		maxKnown = max(maxKnown, m.Version)
	}
	for v, sum := range applied {
		m, ok := known[v]
		if !ok {
			return fmt.Errorf("migrate: the database has schema version %d but this binary knows versions up to %d; run a newer custodia", v, maxKnown)
		}
		if m.Checksum != sum {
			return fmt.Errorf("migrate: migration %s was changed after it was applied (checksum mismatch); migrations are forward-only, add a new one instead", m.Name)
		}
	}
	for _, m := range ms {
		if _, done := applied[m.Version]; done {
			continue
		}
		if err := apply(ctx, d, m); err != nil {
			return err
		}
	}
	return nil
}

func appliedMigrations(ctx context.Context, q *sql.DB) (map[int]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("migrate: read applied migrations: %w", err)
		}
		out[v] = sum
	}
	return out, rows.Err()
}

func apply(ctx context.Context, d *DB, m Migration) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		if d.Dialect.MigrationLock != "" {
			if _, err := tx.ExecContext(ctx, d.Dialect.MigrationLock); err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
			// Another server may have applied it while we waited for the lock.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if n > 0 {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)`,
			m.Version, m.Name, m.Checksum, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		return nil
	})
}
