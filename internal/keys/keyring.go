package keys

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/db"
)

// Errors a Keyring returns. They name the situation, never key bytes.
var (
	// ErrShredded means the patient's key was destroyed: their data is gone
	// for good, which is the point of crypto-shredding.
	ErrShredded = errors.New("keys: the patient's key has been destroyed (crypto-shredded); their data cannot be read")
	// ErrWrongMaster means the configured master key is not the one the
	// workspace keys were wrapped with (wrong env value or key file).
	ErrWrongMaster = errors.New("keys: the master key does not match the one these data keys were wrapped with")
	// ErrWrongWorkspace means a patient's key exists under another
	// workspace's key, so it cannot be opened through this workspace.
	ErrWrongWorkspace = errors.New("keys: the patient's key belongs to another workspace")
)

const (
	kindWorkspace = "workspace"
	kindPatient   = "patient"

	// defaultCacheSize bounds the unwrapped-key cache. Each entry is a key
	// plus its AES-GCM state (well under 2 KiB), so the cap is a few MiB.
	defaultCacheSize = 4096
)

// ShredCheckInterval bounds how long a patient key shredded by another
// server sharing the database (or whose row disappeared) stays usable from
// this keyring's cache: before using a cached patient key, a keyring reads
// the database's shred generation if it last did more than this long ago,
// and re-reads the key's own row if it last confirmed it more than this long
// ago. A request that already holds the key finishes with it.
const ShredCheckInterval = 2 * time.Second

// Options adjust a Keyring; the zero value is the default.
type Options struct {
	// CheckEvery is the shred bound; 0 means ShredCheckInterval.
	CheckEvery time.Duration
	// Now is the clock the bound is measured with; nil means time.Now.
	Now func() time.Time
}

// Keyring hands out unwrapped workspace and patient keys, creating them on
// first use, and keeps recently used ones in memory because opening a patient
// record must not cost a database round trip plus two unwraps every time.
// It is safe for concurrent use.
type Keyring struct {
	db *db.DB

	// rotMu is held shared while a key is wrapped with the master and
	// stored, and exclusively by RotateMaster, so no workspace key can be
	// written under the old master after rotation has read the table.
	rotMu sync.RWMutex

	mu     sync.Mutex // guards master, cache, gen and cached.checked
	master *Master
	cache  *lru
	// gen changes on every shred this keyring makes or learns of; a lookup
	// that started before a shred does not put its (now destroyed) key into
	// the cache.
	gen uint64

	// The database's shred generation: checkMu serialises reading it,
	// checkedAt (Unix nanoseconds of k.now) says when it was last read, and
	// seen is the generation this keyring has applied to its cache.
	checkEvery time.Duration
	now        func() time.Time
	checkMu    sync.Mutex
	checkedAt  atomic.Int64
	seen       int64
	primed     bool

	// readStmt is loadKeySQL prepared once on the read pool: on SQLite,
	// parsing it cost about as much as running it on every cache miss.
	readMu   sync.Mutex
	readStmt atomic.Pointer[sql.Stmt]
}

// NewKeyring returns a keyring over d whose workspace keys are wrapped by m.
func NewKeyring(d *db.DB, m *Master) *Keyring { return NewKeyringWith(d, m, Options{}) }

// NewKeyringWith is NewKeyring with options.
func NewKeyringWith(d *db.DB, m *Master, o Options) *Keyring {
	if o.CheckEvery <= 0 {
		o.CheckEvery = ShredCheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Keyring{db: d, master: m, cache: newLRU(defaultCacheSize), checkEvery: o.CheckEvery, now: o.Now}
}

// cached is one unwrapped key. For workspaces, blind is the derived
// blind-index key; for patients, ws is the workspace they were opened under
// and checked is when its row was last seen unshredded.
type cached struct {
	id      string
	ws      string
	key     *Key
	blind   *Key
	checked time.Time
}

// RefreshShreds reads the database's shred generation now and drops the
// cached keys of patients shredded since the generation last seen. Key
// lookups call it on their own at most every CheckEvery; tests call it
// directly.
func (k *Keyring) RefreshShreds(ctx context.Context) error { return k.refresh(ctx, true) }

// refresh is RefreshShreds if the generation was last read more than
// CheckEvery ago. An error leaves the check due, so the caller must not use
// a cached key: the bound holds even while the database cannot be read.
func (k *Keyring) refresh(ctx context.Context, force bool) error {
	fresh := func() bool { return k.now().UnixNano()-k.checkedAt.Load() < int64(k.checkEvery) }
	if !force && k.everChecked() && fresh() {
		return nil
	}
	k.checkMu.Lock()
	defer k.checkMu.Unlock()
	if !force && k.primed && fresh() {
		return nil // another caller refreshed while this one waited
	}
	started := k.now()
	var g int64
	if err := k.db.Read.QueryRowContext(ctx, `SELECT generation FROM key_generation WHERE id = 1`).Scan(&g); err != nil {
		return fmt.Errorf("keys: read shred generation: %w", err)
	}
	if k.primed && g != k.seen {
		rows, err := k.db.Read.QueryContext(ctx, `SELECT owner_id FROM key_shreds WHERE generation > $1 AND generation <= $2`, k.seen, g)
		if err != nil {
			return fmt.Errorf("keys: read shreds: %w", err)
		}
		var shredded []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("keys: read shreds: %w", err)
			}
			shredded = append(shredded, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("keys: read shreds: %w", err)
		}
		k.mu.Lock()
		k.gen++
		for _, id := range shredded {
			k.cache.remove("p\x00" + id)
		}
		k.mu.Unlock()
	}
	// Before its first read the cache was empty, so older shreds are moot.
	k.seen, k.primed = g, true
	k.checkedAt.Store(started.UnixNano())
	return nil
}

// everChecked reports, without checkMu, whether the generation was ever read
// (checkedAt is set only after the first read).
func (k *Keyring) everChecked() bool { return k.checkedAt.Load() != 0 }

// cachedPatient returns the cached key of the patient if it was opened under
// ws and its row was confirmed within CheckEvery.
func (k *Keyring) cachedPatient(name, ws string) (*cached, bool, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.cache.get(name)
	if !ok || e.ws != ws {
		return nil, false, false
	}
	return e, true, k.now().Sub(e.checked) < k.checkEvery
}

// confirm marks e's row as seen unshredded now, or drops e if the row is
// gone, destroyed or replaced, so a stale cached key is never returned.
func (k *Keyring) confirm(name string, e *cached, rowID string, alive bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if alive && rowID == e.id {
		e.checked = k.now()
		return true
	}
	k.gen++
	k.cache.remove(name)
	return false
}

func (k *Keyring) snapshot() (*Master, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.master, k.gen
}

func (k *Keyring) get(name string) (*cached, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cache.get(name)
}

// put caches e unless a shred happened since gen was read.
func (k *Keyring) put(name string, e *cached, gen uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen == k.gen {
		k.cache.put(name, e)
	}
}

// WorkspaceKey returns the workspace's key, creating it (wrapped by the
// master key) if it does not exist yet.
func (k *Keyring) WorkspaceKey(ctx context.Context, workspaceID string) (*Key, error) {
	e, err := k.workspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	return e.key, nil
}

// BlindKey returns the workspace's blind-index key. It is derived from the
// workspace key rather than stored, so it needs no row and rotates with it.
func (k *Keyring) BlindKey(ctx context.Context, workspaceID string) (*Key, error) {
	e, err := k.workspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	return e.blind, nil
}

func (k *Keyring) workspace(ctx context.Context, ws string) (*cached, error) {
	if ws == "" {
		return nil, errors.New("keys: empty workspace id")
	}
	name := "w\x00" + ws
	if e, ok := k.get(name); ok {
		return e, nil
	}
	master, gen := k.snapshot()
	r, err := k.loadOrCreate(ctx, kindWorkspace, ws, "", func(id string) (string, []byte, error) {
		// Re-read the master under rotMu: rotation may have swapped it.
		m, _ := k.snapshot()
		master = m
		key, err := NewRandomKey()
		if err != nil {
			return "", nil, err
		}
		w, err := wrap(m.key, id, kindWorkspace, ws, key)
		return m.ID(), w, err
	})
	if err != nil {
		return nil, err
	}
	if r.wrapped == nil {
		return nil, fmt.Errorf("keys: workspace %s: %w", ws, ErrShredded)
	}
	if r.wrappingKey != master.ID() {
		// The master may have rotated since the snapshot.
		if m, _ := k.snapshot(); r.wrappingKey == m.ID() {
			master = m
		} else {
			return nil, ErrWrongMaster
		}
	}
	key, err := unwrap(master.key, r.id, kindWorkspace, ws, r.wrapped)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap workspace key %s: %w", r.id, err)
	}
	e := &cached{id: r.id, key: key, blind: key.derive(nil, "custodia workspace blind-index key v1")}
	k.put(name, e, gen)
	return e, nil
}

// PatientKey returns the patient's data key, creating it (wrapped by the
// workspace key) if it does not exist yet. It returns ErrShredded once the
// patient has been shredded, and ErrWrongWorkspace if the patient's key
// belongs to another workspace.
func (k *Keyring) PatientKey(ctx context.Context, workspaceID, patientID string) (*Key, error) {
	if patientID == "" {
		return nil, errors.New("keys: empty patient id")
	}
	name := "p\x00" + patientID
	if err := k.refresh(ctx, false); err != nil {
		return nil, err
	}
	if e, ok, fresh := k.cachedPatient(name, workspaceID); ok {
		if fresh {
			return e.key, nil
		}
		// Confirm the row still holds this key before using the cache.
		r, err := k.readKey(ctx, kindPatient, patientID)
		switch {
		case err == nil && k.confirm(name, e, r.id, !r.shredded && r.wrapped != nil):
			return e.key, nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("keys: load %s key: %w", kindPatient, err)
		case errors.Is(err, sql.ErrNoRows):
			k.confirm(name, e, "", false)
		}
	}
	_, gen := k.snapshot()
	w, err := k.workspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	r, err := k.loadOrCreate(ctx, kindPatient, patientID, w.id, func(id string) (string, []byte, error) {
		key, err := NewRandomKey()
		if err != nil {
			return "", nil, err
		}
		wr, err := wrap(w.key, id, kindPatient, patientID, key)
		return w.id, wr, err
	})
	if err != nil {
		return nil, err
	}
	if r.shredded || r.wrapped == nil {
		return nil, ErrShredded
	}
	if r.wrappingKey != w.id {
		return nil, ErrWrongWorkspace
	}
	key, err := unwrap(w.key, r.id, kindPatient, patientID, r.wrapped)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap patient key %s: %w", r.id, err)
	}
	k.put(name, &cached{id: r.id, ws: workspaceID, key: key, checked: k.now()}, gen)
	return key, nil
}

// StoredPatientKey is a patient's data_keys row read by another package's
// query (PatientKeyJoin and PatientKeyColumns), so a service that loads a
// patient row brings the wrapped key in the same round trip instead of a
// second query when the key is not cached. Get one from
// Keyring.StoredPatientKey before the query runs and pass it to
// PatientKeyFrom after.
type StoredPatientKey struct {
	gen         uint64 // the shred generation before the row was read
	id          sql.NullString
	wrappingKey sql.NullString
	wrapped     []byte
	shredded    sql.NullInt64
}

// PatientKeyJoin is a LEFT JOIN of the key row of the patient whose id is
// the SQL expression patientID, under the table alias alias.
func PatientKeyJoin(alias, patientID string) string {
	return "LEFT JOIN data_keys " + alias + " ON " + alias + ".owner_kind = '" + kindPatient + "' AND " + alias + ".owner_id = " + patientID
}

// PatientKeyColumns are the columns a query selects for
// StoredPatientKey.Dest, from the join's alias.
func PatientKeyColumns(alias string) string {
	return alias + ".id, " + alias + ".wrapping_key, " + alias + ".wrapped, " + alias + ".shredded_at"
}

// Dest returns the scan destinations for PatientKeyColumns, in order.
func (s *StoredPatientKey) Dest() []any {
	return []any{&s.id, &s.wrappingKey, &s.wrapped, &s.shredded}
}

// StoredPatientKey returns an empty StoredPatientKey to scan into. It notes
// the shred generation now, before the row is read, so a key shredded
// between the read and PatientKeyFrom does not enter the cache.
func (k *Keyring) StoredPatientKey() *StoredPatientKey {
	_, gen := k.snapshot()
	return &StoredPatientKey{gen: gen}
}

// PatientKeyFrom is PatientKey for a caller that has read the patient's key
// row with its own query (s): a cached key is returned as PatientKey would,
// and otherwise s is unwrapped instead of reading the row again. A patient
// without a key row yet falls back to PatientKey, which creates one.
func (k *Keyring) PatientKeyFrom(ctx context.Context, workspaceID, patientID string, s *StoredPatientKey) (*Key, error) {
	if patientID == "" {
		return nil, errors.New("keys: empty patient id")
	}
	if s == nil {
		return k.PatientKey(ctx, workspaceID, patientID)
	}
	name := "p\x00" + patientID
	if err := k.refresh(ctx, false); err != nil {
		return nil, err
	}
	if e, ok, _ := k.cachedPatient(name, workspaceID); ok {
		// The caller's query just read the row: use it to confirm the
		// cached key for free.
		if k.confirm(name, e, s.id.String, s.id.Valid && !s.shredded.Valid && s.wrapped != nil) {
			return e.key, nil
		}
	}
	if !s.id.Valid {
		return k.PatientKey(ctx, workspaceID, patientID)
	}
	w, err := k.workspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	if s.shredded.Valid || s.wrapped == nil {
		return nil, ErrShredded
	}
	if s.wrappingKey.String != w.id {
		return nil, ErrWrongWorkspace
	}
	key, err := unwrap(w.key, s.id.String, kindPatient, patientID, s.wrapped)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap patient key %s: %w", s.id.String, err)
	}
	k.put(name, &cached{id: s.id.String, ws: workspaceID, key: key, checked: k.now()}, s.gen)
	return key, nil
}

// ShredPatient destroys the patient's key: the wrapped bytes are set to NULL
// and shredded_at is recorded, and the key leaves this keyring's cache.
// Everything sealed with it becomes unreadable. Shredding a patient that has
// no key yet records a tombstone so no key is ever created for that id, and
// shredding twice is not an error. The same transaction bumps the shred
// generation and records the patient under it, so every other keyring
// sharing the database drops its cached copy within its CheckEvery
// (ShredCheckInterval by default).
func (k *Keyring) ShredPatient(ctx context.Context, patientID string) error {
	if patientID == "" {
		return errors.New("keys: empty patient id")
	}
	now := time.Now().UnixMicro()
	err := k.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE data_keys SET wrapped = NULL, shredded_at = $1
			 WHERE owner_kind = $2 AND owner_id = $3 AND shredded_at IS NULL`,
			now, kindPatient, patientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO data_keys (id, owner_kind, owner_id, parent_id, wrapping_key, wrapped, created_at, shredded_at)
				 VALUES ($1, $2, $3, NULL, '', NULL, $4, $4)
				 ON CONFLICT (owner_kind, owner_id) DO NOTHING`,
				newID(), kindPatient, patientID, now); err != nil {
				return err
			}
		}
		// The one-row UPDATE takes the row's lock, so concurrent shreds get
		// their generations in commit order.
		if _, err := tx.ExecContext(ctx, `UPDATE key_generation SET generation = generation + 1 WHERE id = 1`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO key_shreds (generation, owner_id, shredded_at)
			SELECT generation, $1, $2 FROM key_generation WHERE id = 1`, patientID, now)
		return err
	})
	k.mu.Lock()
	k.gen++
	k.cache.remove("p\x00" + patientID)
	k.mu.Unlock()
	if err != nil {
		return fmt.Errorf("keys: shred patient key: %w", err)
	}
	return nil
}

// RotateMaster rewraps every workspace key under newMaster in one
// transaction and switches this keyring to it. Data is not re-encrypted:
// workspace and patient keys keep their value, only their wrapping changes.
// It returns how many workspace keys were rewrapped. Other processes must be
// restarted with the new master key; until then they get ErrWrongMaster.
func (k *Keyring) RotateMaster(ctx context.Context, newMaster *Master) (int, error) {
	k.rotMu.Lock()
	defer k.rotMu.Unlock()
	old, _ := k.snapshot()
	if newMaster.ID() == old.ID() {
		return 0, errors.New("keys: rotate master: the new master key is the current one")
	}
	type row struct {
		id, owner, wrappingKey string
		wrapped                []byte
	}
	count := 0
	now := time.Now().UnixMicro()
	err := k.db.Tx(ctx, func(tx *sql.Tx) error {
		count = 0
		rs, err := tx.QueryContext(ctx,
			`SELECT id, owner_id, wrapping_key, wrapped FROM data_keys WHERE owner_kind = $1 ORDER BY id`,
			kindWorkspace)
		if err != nil {
			return err
		}
		var all []row
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.id, &r.owner, &r.wrappingKey, &r.wrapped); err != nil {
				rs.Close()
				return err
			}
			all = append(all, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		for _, r := range all {
			if r.wrapped == nil || r.wrappingKey == newMaster.ID() {
				continue
			}
			if r.wrappingKey != old.ID() {
				return fmt.Errorf("workspace key %s: %w", r.id, ErrWrongMaster)
			}
			key, err := unwrap(old.key, r.id, kindWorkspace, r.owner, r.wrapped)
			if err != nil {
				return fmt.Errorf("unwrap workspace key %s: %w", r.id, err)
			}
			w, err := wrap(newMaster.key, r.id, kindWorkspace, r.owner, key)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx,
				`UPDATE data_keys SET wrapping_key = $1, wrapped = $2, rotated_at = $3 WHERE id = $4 AND wrapping_key = $5`,
				newMaster.ID(), w, now, r.id, old.ID())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("workspace key %s changed during rotation", r.id)
			}
			count++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("keys: rotate master: %w", err)
	}
	k.mu.Lock()
	k.master = newMaster
	k.mu.Unlock()
	return count, nil
}

// VerifyMaster reports ErrWrongMaster if any workspace key is wrapped by a
// different master key, so a server can refuse to start with the wrong key
// instead of failing request by request.
func (k *Keyring) VerifyMaster(ctx context.Context) error {
	m, _ := k.snapshot()
	var id string
	err := k.db.Read.QueryRowContext(ctx,
		`SELECT id FROM data_keys WHERE owner_kind = $1 AND wrapping_key <> $2 LIMIT 1`,
		kindWorkspace, m.ID()).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("keys: verify master key: %w", err)
	default:
		return ErrWrongMaster
	}
}

// keyRow is a data_keys row as the keyring needs it.
type keyRow struct {
	id          string
	wrappingKey string
	wrapped     []byte
	shredded    bool
}

const loadKeySQL = `SELECT id, wrapping_key, wrapped, shredded_at FROM data_keys WHERE owner_kind = $1 AND owner_id = $2`

// loadKey reads the owner's key row through q (the writer, to see a row it
// just committed).
func loadKey(ctx context.Context, q *sql.DB, kind, owner string) (*keyRow, error) {
	return scanKey(q.QueryRowContext(ctx, loadKeySQL, kind, owner))
}

// readKey reads the owner's key row from the read pool.
func (k *Keyring) readKey(ctx context.Context, kind, owner string) (*keyRow, error) {
	st := k.readStmt.Load()
	if st == nil {
		k.readMu.Lock()
		if st = k.readStmt.Load(); st == nil {
			var err error
			if st, err = k.db.Read.PrepareContext(ctx, loadKeySQL); err != nil {
				k.readMu.Unlock()
				return nil, err
			}
			k.readStmt.Store(st)
		}
		k.readMu.Unlock()
	}
	return scanKey(st.QueryRowContext(ctx, kind, owner))
}

func scanKey(row *sql.Row) (*keyRow, error) {
	var r keyRow
	var shredded sql.NullInt64
	if err := row.Scan(&r.id, &r.wrappingKey, &r.wrapped, &shredded); err != nil {
		return nil, err
	}
	r.shredded = shredded.Valid
	return &r, nil
}

// loadOrCreate reads the owner's key row, inserting a new one built by mk if
// there is none. Concurrent creators race on the UNIQUE(owner_kind, owner_id)
// constraint with ON CONFLICT DO NOTHING and then all read the winner's row,
// so everyone ends up with the same key.
func (k *Keyring) loadOrCreate(ctx context.Context, kind, owner, parent string,
	mk func(id string) (wrappingKey string, wrapped []byte, err error)) (*keyRow, error) {
	r, err := k.readKey(ctx, kind, owner)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("keys: load %s key: %w", kind, err)
	}
	k.rotMu.RLock()
	defer k.rotMu.RUnlock()
	id := newID()
	wrappingKey, wrapped, err := mk(id)
	if err != nil {
		return nil, fmt.Errorf("keys: create %s key: %w", kind, err)
	}
	var parentID any
	if parent != "" {
		parentID = parent
	}
	_, err = k.db.Write.ExecContext(ctx,
		`INSERT INTO data_keys (id, owner_kind, owner_id, parent_id, wrapping_key, wrapped, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (owner_kind, owner_id) DO NOTHING`,
		id, kind, owner, parentID, wrappingKey, wrapped, time.Now().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("keys: store %s key: %w", kind, err)
	}
	// Read through the writer so the row just committed (ours or the
	// winner's) is certainly visible.
	r, err = loadKey(ctx, k.db.Write, kind, owner)
	if err != nil {
		return nil, fmt.Errorf("keys: load %s key: %w", kind, err)
	}
	return r, nil
}

// newID returns a random 128-bit key id in hex.
func newID() string { return ids.New() }

// wrapAD binds a wrapped key to its id and owner, so a wrapped key copied to
// another row or owner does not unwrap.
func wrapAD(id, kind, owner string) []byte {
	b := make([]byte, 0, 32+len(id)+len(kind)+len(owner))
	b = append(b, "custodia.wrap"...)
	b = append(b, wrapVersion)
	b = appendLP(b, id)
	b = appendLP(b, kind)
	return appendLP(b, owner)
}

// wrap seals key under wk: version || nonce || ciphertext || tag.
func wrap(wk *Key, id, kind, owner string, key *Key) ([]byte, error) {
	aead, err := wk.fieldAEAD()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, fieldOverhead+KeySize)
	out[0] = wrapVersion
	return aead.Seal(out, nil, key.b[:], wrapAD(id, kind, owner)), nil
}

func unwrap(wk *Key, id, kind, owner string, wrapped []byte) (*Key, error) {
	if len(wrapped) != fieldOverhead+KeySize || wrapped[0] != wrapVersion {
		return nil, ErrDecrypt
	}
	aead, err := wk.fieldAEAD()
	if err != nil {
		return nil, ErrDecrypt
	}
	var b [KeySize]byte
	pt, err := aead.Open(b[:0], nil, wrapped[1:], wrapAD(id, kind, owner))
	if err != nil || len(pt) != KeySize {
		return nil, ErrDecrypt
	}
	return newKey(pt), nil
}

// lru is a small least-recently-used map; the Keyring's mutex guards it.
type lru struct {
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type lruItem struct {
	name string
	e    *cached
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru) get(name string) (*cached, bool) {
	el, ok := c.items[name]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*lruItem).e, true
}

func (c *lru) put(name string, e *cached) {
	if el, ok := c.items[name]; ok {
		el.Value.(*lruItem).e = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[name] = c.ll.PushFront(&lruItem{name: name, e: e})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*lruItem).name)
	}
}

func (c *lru) remove(name string) {
	if el, ok := c.items[name]; ok {
		c.ll.Remove(el)
		delete(c.items, name)
	}
}

// SystemSecret returns 32 bytes for a platform-level purpose (sealing TOTP
// secrets, signing audit checkpoints). It is derived from a key kept wrapped
// in data_keys like a workspace key, under the reserved owner id
// "system:PURPOSE", so rotating the master key rewraps it and the secret
// stays the same: nothing sealed with it needs re-sealing.
func (k *Keyring) SystemSecret(ctx context.Context, purpose string) ([]byte, error) {
	if purpose == "" || strings.ContainsAny(purpose, ": ") {
		return nil, fmt.Errorf("keys: system secret purpose %q must be a plain word", purpose)
	}
	base, err := k.WorkspaceKey(ctx, "system:"+purpose)
	if err != nil {
		return nil, fmt.Errorf("keys: system secret: %w", err)
	}
	d := base.derive(nil, "custodia system secret v1: "+purpose)
	out := make([]byte, KeySize)
	copy(out, d.b[:])
	return out, nil
}
