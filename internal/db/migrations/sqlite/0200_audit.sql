-- The audit log: one row per PHI access or security event, hash-chained in
-- seq order, plus signed checkpoints of the chain head. Rows are never
-- updated or deleted by the application; retention is at least six years
-- (HIPAA 164.316(b)(2)(i), 164.528 lookback), so nothing here expires.
-- Columns hold ids and codes only, never names or other PHI.
CREATE TABLE audit_entries (
    seq            INTEGER PRIMARY KEY,           -- rowid alias: gap-free, assigned by the writer
    time           BIGINT  NOT NULL,              -- unix microseconds
    actor_user_id  TEXT    NOT NULL DEFAULT '',
    actor_token_id TEXT    NOT NULL DEFAULT '',
    actor_role     TEXT    NOT NULL DEFAULT '',
    workspace_id   TEXT    NOT NULL DEFAULT '',
    on_behalf_of   TEXT    NOT NULL DEFAULT '',
    action         TEXT    NOT NULL,
    resource_type  TEXT    NOT NULL DEFAULT '',
    resource_id    TEXT    NOT NULL DEFAULT '',
    patient_id     TEXT    NOT NULL DEFAULT '',
    purpose        TEXT    NOT NULL DEFAULT '',
    decision       TEXT    NOT NULL DEFAULT '',
    reason         TEXT    NOT NULL DEFAULT '',
    break_glass    INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1)),
    client_addr    TEXT    NOT NULL DEFAULT '',
    request_id     TEXT    NOT NULL DEFAULT '',
    outcome        TEXT    NOT NULL DEFAULT '',
    prev_hash      BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash           BLOB    NOT NULL CHECK (length(hash) = 32)
);

-- Per-patient, per-user and per-workspace histories read newest first.
CREATE INDEX audit_entries_patient   ON audit_entries (patient_id, seq);
CREATE INDEX audit_entries_actor     ON audit_entries (actor_user_id, seq);
CREATE INDEX audit_entries_workspace ON audit_entries (workspace_id, seq);
CREATE INDEX audit_entries_time      ON audit_entries (time);

-- Ed25519-signed statements "the chain up to seq has this head hash".
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    head_hash  BLOB    NOT NULL CHECK (length(head_hash) = 32),
    time       BIGINT  NOT NULL,
    key_id     TEXT    NOT NULL,                  -- hex SHA-256 of the public key
    public_key BLOB    NOT NULL CHECK (length(public_key) = 32),
    signature  BLOB    NOT NULL CHECK (length(signature) = 64)
);

-- The database itself refuses to change history. INSERT is checked too:
-- INSERT OR REPLACE deletes the old row without firing delete triggers, and
-- a row that does not extend the chain by exactly one would leave a gap.
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_entries_append_only BEFORE INSERT ON audit_entries
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_entries)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_entries WHERE seq = NEW.seq - 1), zeroblob(32))
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: an entry must extend the chain by one'); END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
