-- Consent per purpose (issue 8). Two append-only tables:
--   consent_texts: the wording a patient is shown for a purpose, versioned.
--     A version is never edited: a change is a new version, marked material
--     or not, and a version may carry an expiry (valid_until).
--   consent_events: the ledger of grants and withdrawals. The state of a
--     (patient, purpose, data category) at time t is its latest event at or
--     before t, so history is never rewritten and a withdrawal does not undo
--     earlier lawful use.
-- Codes, versions, ids and times are plain: they say that a patient made a
-- choice about a purpose, which the audit log records anyway and which the
-- enforcement point must read without the patient's key. Free text (the
-- note) is sealed with the patient's key; the signed paper form lives in
-- the blob store, encrypted with the patient's key.
CREATE TABLE consent_texts (
    id           TEXT     PRIMARY KEY,
    purpose      TEXT     NOT NULL,
    version      INTEGER  NOT NULL CHECK (version > 0),
    material     SMALLINT NOT NULL CHECK (material IN (0, 1)),
    body         TEXT     NOT NULL,
    published_at BIGINT   NOT NULL,
    published_by TEXT     NOT NULL DEFAULT '',
    valid_until  BIGINT   NOT NULL DEFAULT 0,
    UNIQUE (purpose, version)
);

CREATE TABLE consent_events (
    id             TEXT   PRIMARY KEY,
    patient_id     TEXT   NOT NULL,
    workspace_id   TEXT   NOT NULL,
    purpose        TEXT   NOT NULL,
    category       TEXT   NOT NULL CHECK (category IN ('general', 'impairment')),
    action         TEXT   NOT NULL CHECK (action IN ('grant', 'withdraw')),
    text_id        TEXT   NOT NULL REFERENCES consent_texts (id),
    method         TEXT   NOT NULL CHECK (method IN ('portal', 'paper_form')),
    decided_by     TEXT   NOT NULL CHECK (decided_by IN ('patient', 'representative')),
    representative TEXT   NOT NULL DEFAULT '',
    recorded_by    TEXT   NOT NULL,
    on_behalf_of   TEXT   NOT NULL DEFAULT '',
    form_blob      TEXT   NOT NULL DEFAULT '',
    form_type      TEXT   NOT NULL DEFAULT '',
    form_size      BIGINT NOT NULL DEFAULT 0,
    note           BYTEA,
    recorded_at    BIGINT NOT NULL
);

CREATE INDEX consent_events_key ON consent_events (patient_id, purpose, category, recorded_at);
CREATE INDEX consent_texts_purpose ON consent_texts (purpose, version);

-- The database refuses to change history: UPDATE, DELETE and TRUNCATE raise
-- (ON CONFLICT DO UPDATE fires the UPDATE trigger).
CREATE FUNCTION consent_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER consent_events_no_change BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_refuse_change();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_refuse_change();
CREATE TRIGGER consent_texts_no_change BEFORE UPDATE OR DELETE ON consent_texts
    FOR EACH ROW EXECUTE FUNCTION consent_refuse_change();
CREATE TRIGGER consent_texts_no_truncate BEFORE TRUNCATE ON consent_texts
    FOR EACH STATEMENT EXECUTE FUNCTION consent_refuse_change();
