package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// EachRow runs SELECT cols FROM from ORDER BY cols[key] (from carries any
// WHERE) with args on a read connection and calls fn with each row's values,
// in that order. cols[key] must be an integer column that no two rows share.
// Values are int64, float64, string, []byte or nil; fn must not keep a
// string or []byte after it returns, because they alias the driver's own
// memory. An error from fn stops the query and EachRow returns it.
//
// It is for reading millions of rows (the audit verifier) without
// database/sql, whose per-row and per-value cost is many times that of
// reading them. On SQLite fn runs inside the query, called by a Go
// aggregate function over the rows, so it must not use the connection that
// runs the query (it cannot reach it: the pool hands out others). An
// aggregate's input has no ORDER BY, and a subquery that has one costs a
// third more, so there the rows come in the order SQLite scans them, which
// for a rowid range or an index on the key is key order, and EachRow checks
// it: a row out of order is an error. On PostgreSQL the rows come from pgx
// in binary format.
func (d *DB) EachRow(ctx context.Context, cols []string, key int, from string, args []any, fn func(row []driver.Value) error) error {
	if d.Dialect.Name != SQLite.Name {
		return eachRowPostgres(ctx, d.Read, `SELECT `+strings.Join(cols, ", ")+` FROM `+from+` ORDER BY `+cols[key], args, fn)
	}
	last, first := int64(0), true
	ordered := func(row []driver.Value) error {
		k, ok := row[key].(int64)
		if !ok || !first && k <= last {
			return fmt.Errorf("each row: %s %v is out of order after %d", cols[key], row[key], last)
		}
		last, first = k, false
		return fn(row)
	}
	h := &eachHandle{fn: ordered}
	id := eachSeq.Add(1)
	eachHandles.Store(id, h)
	defer eachHandles.Delete(id)
	conn, err := d.Read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Reading the file through a memory map saves a read call and a copy a
	// page (about a tenth of the CPU time of a long scan). Only this scan
	// uses it: the connection goes back to the pool without it.
	if _, err := conn.ExecContext(ctx, `PRAGMA mmap_size = `+fmt.Sprint(eachMmapSize)); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), `PRAGMA mmap_size = 0`)
	// The handle is the first argument: the function has no other way to
	// learn which call it serves. The query yields one row, NULL.
	var done sql.NullInt64
	q := `SELECT ` + eachRowFunction + `(` + fmt.Sprint(id) + `, ` + strings.Join(cols, ", ") + `) FROM ` + from
	err = conn.QueryRowContext(ctx, q, args...).Scan(&done)
	if h.err != nil {
		return h.err
	}
	return err
}

// eachMmapSize is the most of the database file a scan maps (SQLite caps
// it at its compile-time limit).
const eachMmapSize = 1 << 40

const eachRowFunction = "custodia_each_row"

// eachHandle is one EachRow call's callback and the error it stopped with.
type eachHandle struct {
	fn  func([]driver.Value) error
	err error
}

var (
	eachHandles sync.Map // int64 -> *eachHandle
	eachSeq     atomic.Int64
	errEachStop = errors.New("row callback stopped the query")
)

func init() {
	// Every SQLite connection opened from here on knows the function.
	sqlite.MustRegisterFunction(eachRowFunction, &sqlite.FunctionImpl{
		NArgs: -1,
		// Strings and blobs are passed without copying; EachRow's contract
		// says fn keeps none of them.
		VolatileArgs: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) {
			return &eachAggregate{}, nil
		},
	})
}

// eachAggregate passes each row it is stepped over to its handle's fn.
type eachAggregate struct{ h *eachHandle }

func (a *eachAggregate) Step(_ *sqlite.FunctionContext, row []driver.Value) error {
	if a.h == nil {
		id, _ := row[0].(int64)
		h, ok := eachHandles.Load(id)
		if !ok {
			return errors.New("each row: unknown handle")
		}
		a.h = h.(*eachHandle)
	}
	if a.h.err != nil {
		return errEachStop
	}
	if err := a.h.fn(row[1:]); err != nil {
		a.h.err = err
		return errEachStop
	}
	return nil
}

func (a *eachAggregate) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return errors.New("each row: not a window function")
}

func (a *eachAggregate) WindowValue(*sqlite.FunctionContext) (driver.Value, error) { return nil, nil }

func (a *eachAggregate) Final(*sqlite.FunctionContext) {}

// eachRowPostgres is EachRow on pgx's own rows, all in binary format,
// decoded in place: database/sql's per-value conversion and copying cost
// the client several times what the values take to arrive.
func eachRowPostgres(ctx context.Context, pool *sql.DB, query string, args []any, fn func([]driver.Value) error) error {
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
		vals := make([]driver.Value, len(fields))
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
func binaryValue(oid uint32, b []byte) (driver.Value, error) {
	if b == nil {
		return nil, nil
	}
	switch oid {
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		switch len(b) {
		case 8:
			return int64(binary.BigEndian.Uint64(b)), nil
		case 4:
			return int64(int32(binary.BigEndian.Uint32(b))), nil
		case 2:
			return int64(int16(binary.BigEndian.Uint16(b))), nil
		}
		return nil, fmt.Errorf("an integer of %d bytes", len(b))
	case pgtype.TextOID, pgtype.VarcharOID:
		return unsafe.String(unsafe.SliceData(b), len(b)), nil
	case pgtype.ByteaOID:
		return b, nil
	case pgtype.BoolOID:
		return len(b) == 1 && b[0] != 0, nil
	}
	return nil, fmt.Errorf("type %d is not supported", oid)
}
