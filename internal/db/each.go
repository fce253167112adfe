package db

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// Kind is the type of a column value.
type Kind uint8

// The kinds of value EachRow reads.
const (
	Null Kind = iota
	Integer
	Float
	Text
	Blob
)

// Row is the row EachRow is at. Each method reads column i when called, so
// a caller pays only for what it reads: Kind, then Int for an Integer, or
// Bytes (or only Len) for a Text or Blob. Bytes alias the driver's memory
// and are valid only until the callback returns.
type Row interface {
	Columns() int
	Kind(i int) Kind
	Int(i int) int64
	Bytes(i int) []byte
	Len(i int) int
}

// Value is one decoded column value (PostgreSQL's rows are decoded whole).
type Value struct {
	Kind  Kind
	Int   int64
	Bytes []byte
}

// Values is a Row of decoded values.
type Values []Value

// Columns implements Row.
func (v Values) Columns() int { return len(v) }

// Kind implements Row.
func (v Values) Kind(i int) Kind { return v[i].Kind }

// Int implements Row.
func (v Values) Int(i int) int64 { return v[i].Int }

// Bytes implements Row.
func (v Values) Bytes(i int) []byte { return v[i].Bytes }

// Len implements Row.
func (v Values) Len(i int) int { return len(v[i].Bytes) }

// EachRow runs SELECT cols FROM from ORDER BY cols[key] (from carries any
// WHERE; the arguments are integers) and calls fn at each row, in that
// order. fn must not keep a row's bytes after it returns: they alias the
// driver's own memory. An error from fn stops the query and EachRow
// returns it.
//
// It is for reading millions of rows (the audit verifier) without
// database/sql, whose per-row and per-value conversions cost many times
// what reading the rows does. On SQLite the query runs on a read-only
// connection of its own, through SQLite's C API (the driver's transpiled
// library), and fn reads the values it wants in place; on PostgreSQL the
// rows come from pgx in binary format.
func (d *DB) EachRow(ctx context.Context, cols []string, key int, from string, args []any, fn func(Row) error) error {
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + from + ` ORDER BY ` + cols[key]
	if d.Dialect.Name != SQLite.Name {
		return eachRowPostgres(ctx, d.Read, q, args, fn)
	}
	if d.Path == "" {
		return errors.New("each row: the SQLite database has no file path")
	}
	return eachRowSQLite(ctx, d.Path, q, args, fn)
}

// eachMmapSize is the most of the database file a scan maps (SQLite caps
// it at its compile-time limit).
const eachMmapSize = 1 << 40

// eachRowPostgres is EachRow on pgx's own rows, all in binary format,
// decoded in place: database/sql's per-value conversion and copying cost
// the client several times what the values take to arrive.
func eachRowPostgres(ctx context.Context, pool *sql.DB, query string, args []any, fn func(Row) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("each row: unexpected driver connection %T", dc)
		}
		rows, err := sc.Conn().Query(ctx, query, append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		fields := rows.FieldDescriptions()
		vals := make(Values, len(fields))
		for rows.Next() {
			raw := rows.RawValues()
			for i, f := range fields {
				v, err := binaryValue(f.DataTypeOID, raw[i])
				if err != nil {
					return fmt.Errorf("each row: column %s: %w", f.Name, err)
				}
				vals[i] = v
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// binaryValue decodes a value in PostgreSQL's binary format. Text and
// bytea alias b.
func binaryValue(oid uint32, b []byte) (Value, error) {
	if b == nil {
		return Value{}, nil
	}
	switch oid {
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		switch len(b) {
		case 8:
			return Value{Kind: Integer, Int: int64(binary.BigEndian.Uint64(b))}, nil
		case 4:
			return Value{Kind: Integer, Int: int64(int32(binary.BigEndian.Uint32(b)))}, nil
		case 2:
			return Value{Kind: Integer, Int: int64(int16(binary.BigEndian.Uint16(b)))}, nil
		}
		return Value{}, fmt.Errorf("an integer of %d bytes", len(b))
	case pgtype.TextOID, pgtype.VarcharOID:
		return Value{Kind: Text, Bytes: b}, nil
	case pgtype.ByteaOID:
		return Value{Kind: Blob, Bytes: b}, nil
	case pgtype.BoolOID:
		if len(b) != 1 {
			return Value{}, fmt.Errorf("a boolean of %d bytes", len(b))
		}
		return Value{Kind: Integer, Int: int64(b[0])}, nil
	}
	return Value{}, fmt.Errorf("type %d is not supported", oid)
}
