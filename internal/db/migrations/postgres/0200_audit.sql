-- The audit log: one row per PHI access or security event, hash-chained in
-- seq order, plus signed checkpoints of the chain head. Rows are never
-- updated or deleted by the application; retention is at least six years
-- (HIPAA 164.316(b)(2)(i), 164.528 lookback), so nothing here expires.
-- Columns hold ids and codes only, never names or other PHI.
CREATE TABLE audit_entries (
    seq            BIGINT   PRIMARY KEY,          -- gap-free, assigned by the writer
    time           BIGINT   NOT NULL,             -- unix microseconds
    actor_user_id  TEXT     NOT NULL DEFAULT '',
    actor_token_id TEXT     NOT NULL DEFAULT '',
    actor_role     TEXT     NOT NULL DEFAULT '',
    workspace_id   TEXT     NOT NULL DEFAULT '',
    on_behalf_of   TEXT     NOT NULL DEFAULT '',
    action         TEXT     NOT NULL,
    resource_type  TEXT     NOT NULL DEFAULT '',
    resource_id    TEXT     NOT NULL DEFAULT '',
    patient_id     TEXT     NOT NULL DEFAULT '',
    purpose        TEXT     NOT NULL DEFAULT '',
    decision       TEXT     NOT NULL DEFAULT '',
    reason         TEXT     NOT NULL DEFAULT '',
    break_glass    SMALLINT NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1)),
    client_addr    TEXT     NOT NULL DEFAULT '',
    request_id     TEXT     NOT NULL DEFAULT '',
    outcome        TEXT     NOT NULL DEFAULT '',
    prev_hash      BYTEA    NOT NULL CHECK (length(prev_hash) = 32),
    hash           BYTEA    NOT NULL CHECK (length(hash) = 32)
);

-- Per-patient, per-user and per-workspace histories read newest first.
CREATE INDEX audit_entries_patient   ON audit_entries (patient_id, seq);
CREATE INDEX audit_entries_actor     ON audit_entries (actor_user_id, seq);
CREATE INDEX audit_entries_workspace ON audit_entries (workspace_id, seq);
CREATE INDEX audit_entries_time      ON audit_entries (time);

-- Ed25519-signed statements "the chain up to seq has this head hash".
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    head_hash  BYTEA  NOT NULL CHECK (length(head_hash) = 32),
    time       BIGINT NOT NULL,
    key_id     TEXT   NOT NULL,                   -- hex SHA-256 of the public key
    public_key BYTEA  NOT NULL CHECK (length(public_key) = 32),
    signature  BYTEA  NOT NULL CHECK (length(signature) = 64)
);

-- The database itself refuses to change history: UPDATE, DELETE and
-- TRUNCATE raise. (ON CONFLICT DO UPDATE fires the UPDATE trigger.)
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- A row that does not extend the chain by exactly one would leave a gap or
-- a broken link; refuse it here too, so a faulty writer cannot store one.
-- Row-level BEFORE triggers see the rows earlier in the same statement.
CREATE FUNCTION audit_check_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev BYTEA;
BEGIN
    IF NEW.seq = 1 THEN
        prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ELSE
        SELECT hash INTO prev FROM audit_entries WHERE seq = NEW.seq - 1;
    END IF;
    IF prev IS NULL OR prev <> NEW.prev_hash THEN
        RAISE EXCEPTION 'audit entries are append-only: an entry must extend the chain by one'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_entries_append_only BEFORE INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_check_link();
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
