package db

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// eachRowSQLite is EachRow on SQLite: query runs on a read-only handle of
// its own, opened on the database file at path through SQLite's C API, and
// each value is read where SQLite holds it. Through database/sql (or a Go
// function called from inside the query) every row and value is converted
// and boxed, which cost more than reading the rows.
func eachRowSQLite(ctx context.Context, path, query string, args []any, fn func(Row) error) error {
	tls := libc.NewTLS()
	defer tls.Close()
	h, err := rawOpen(tls, path)
	if err != nil {
		return err
	}
	defer sqlite3.Xsqlite3_close_v2(tls, h)
	// busy_timeout as the pools have it; the memory map saves a read call
	// and a copy a page of a long scan.
	for _, p := range []string{`PRAGMA busy_timeout = 10000`, fmt.Sprintf(`PRAGMA mmap_size = %d`, eachMmapSize)} {
		if err := rawRun(ctx, tls, h, p, nil, nil); err != nil {
			return err
		}
	}
	return rawRun(ctx, tls, h, query, args, fn)
}

// rawOpen opens path read-only. The handle has no mutex of its own: one
// goroutine uses it.
func rawOpen(tls *libc.TLS, path string) (uintptr, error) {
	name, err := libc.CString(path)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(tls, name)
	pp := tls.Alloc(ptrSize)
	defer tls.Free(ptrSize)
	*(*uintptr)(cptr(pp)) = 0
	rc := sqlite3.Xsqlite3_open_v2(tls, name, pp, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	h := *(*uintptr)(cptr(pp))
	if rc != sqlite3.SQLITE_OK {
		err := rawError(tls, h, rc, "open")
		if h != 0 {
			sqlite3.Xsqlite3_close_v2(tls, h)
		}
		return 0, err
	}
	return h, nil
}

const ptrSize = int(unsafe.Sizeof(uintptr(0)))

// rawRun prepares q, binds args (integers, to $1, $2, ... in order) and
// steps it to the end, calling fn, when it is not nil, with each row.
// ctx is checked every few thousand rows.
func rawRun(ctx context.Context, tls *libc.TLS, h uintptr, q string, args []any, fn func(Row) error) error {
	zq, err := libc.CString(q)
	if err != nil {
		return err
	}
	defer libc.Xfree(tls, zq)
	pp := tls.Alloc(ptrSize)
	defer tls.Free(ptrSize)
	*(*uintptr)(cptr(pp)) = 0
	if rc := sqlite3.Xsqlite3_prepare_v2(tls, h, zq, -1, pp, 0); rc != sqlite3.SQLITE_OK {
		return rawError(tls, h, rc, "prepare")
	}
	st := *(*uintptr)(cptr(pp))
	defer sqlite3.Xsqlite3_finalize(tls, st)
	if n := int(sqlite3.Xsqlite3_bind_parameter_count(tls, st)); n != len(args) {
		return fmt.Errorf("each row: the query takes %d arguments, %d given", n, len(args))
	}
	for i, a := range args {
		var v int64
		switch a := a.(type) {
		case int:
			v = int64(a)
		case int64:
			v = a
		default:
			return fmt.Errorf("each row: argument %d is a %T, not an integer", i+1, a)
		}
		if rc := sqlite3.Xsqlite3_bind_int64(tls, st, int32(i+1), v); rc != sqlite3.SQLITE_OK {
			return rawError(tls, h, rc, "bind")
		}
	}
	row := &rawRow{tls: tls, st: st, vals: make([]uintptr, sqlite3.Xsqlite3_column_count(tls, st))}
	for rows := 0; ; rows++ {
		if rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch rc := sqlite3.Xsqlite3_step(tls, st); rc {
		case sqlite3.SQLITE_ROW:
			if fn == nil {
				continue
			}
			row.next()
			if err := fn(row); err != nil {
				return err
			}
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return rawError(tls, h, rc, "step")
		}
	}
}

// rawRow is a Row read from a statement's current row through the C API.
// Each column's value is looked up once a row (sqlite3_column_value, which
// takes the statement's locks and checks) and then read with the cheaper
// sqlite3_value_* calls.
type rawRow struct {
	tls  *libc.TLS
	st   uintptr
	vals []uintptr // column i's sqlite3_value this row, or 0 until read
}

// next forgets the values of the row before.
func (r *rawRow) next() { clear(r.vals) }

func (r *rawRow) value(i int) uintptr {
	v := r.vals[i]
	if v == 0 {
		v = sqlite3.Xsqlite3_column_value(r.tls, r.st, int32(i))
		r.vals[i] = v
	}
	return v
}

func (r *rawRow) Columns() int { return len(r.vals) }

func (r *rawRow) Kind(i int) Kind {
	switch sqlite3.Xsqlite3_value_type(r.tls, r.value(i)) {
	case sqlite3.SQLITE_INTEGER:
		return Integer
	case sqlite3.SQLITE_FLOAT:
		return Float
	case sqlite3.SQLITE_TEXT:
		return Text
	case sqlite3.SQLITE_BLOB:
		return Blob
	}
	return Null
}

func (r *rawRow) Int(i int) int64 { return sqlite3.Xsqlite3_value_int64(r.tls, r.value(i)) }

// Len is the length in bytes of a Text or Blob column.
func (r *rawRow) Len(i int) int { return int(sqlite3.Xsqlite3_value_bytes(r.tls, r.value(i))) }

// Bytes is the column's bytes, as stored for a Text or Blob (value_blob
// converts neither), taken before their length as SQLite asks.
func (r *rawRow) Bytes(i int) []byte {
	v := r.value(i)
	p := sqlite3.Xsqlite3_value_blob(r.tls, v)
	n := sqlite3.Xsqlite3_value_bytes(r.tls, v)
	if p == 0 || n <= 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(cptr(p)), int(n))
}

func rawError(tls *libc.TLS, h uintptr, rc int32, what string) error {
	msg := fmt.Sprintf("SQLite error %d", rc)
	if h != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(tls, h)); m != "" {
			msg = m
		}
	}
	return errors.New("each row: " + what + ": " + msg)
}

// cptr is the address p, of memory that SQLite's C runtime allocated (never
// Go's heap), as a pointer.
func cptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
