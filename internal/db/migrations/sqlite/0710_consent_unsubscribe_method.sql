-- A withdrawal can arrive from the one-click unsubscribe link of a news
-- email (method 'unsubscribe_link'), without a session. SQLite cannot
-- change a CHECK constraint in place, so the ledger table is rebuilt with
-- the same columns, rows, index and append-only triggers. DROP TABLE does
-- not fire the delete trigger; the triggers go first all the same.
DROP TRIGGER consent_events_no_update;
DROP TRIGGER consent_events_no_delete;
DROP TRIGGER consent_events_no_replace;

CREATE TABLE consent_events_0710 (
    id             TEXT    PRIMARY KEY,
    patient_id     TEXT    NOT NULL,
    workspace_id   TEXT    NOT NULL,
    purpose        TEXT    NOT NULL,
    category       TEXT    NOT NULL CHECK (category IN ('general', 'impairment')),
    action         TEXT    NOT NULL CHECK (action IN ('grant', 'withdraw')),
    text_id        TEXT    NOT NULL REFERENCES consent_texts (id),
    method         TEXT    NOT NULL CHECK (method IN ('portal', 'paper_form', 'unsubscribe_link')),
    decided_by     TEXT    NOT NULL CHECK (decided_by IN ('patient', 'representative')),
    representative TEXT    NOT NULL DEFAULT '',
    recorded_by    TEXT    NOT NULL,
    on_behalf_of   TEXT    NOT NULL DEFAULT '',
    form_blob      TEXT    NOT NULL DEFAULT '',
    form_type      TEXT    NOT NULL DEFAULT '',
    form_size      BIGINT  NOT NULL DEFAULT 0,
    note           BLOB,
    recorded_at    BIGINT  NOT NULL
);
INSERT INTO consent_events_0710 (id, patient_id, workspace_id, purpose, category, action, text_id, method, decided_by,
    representative, recorded_by, on_behalf_of, form_blob, form_type, form_size, note, recorded_at)
SELECT id, patient_id, workspace_id, purpose, category, action, text_id, method, decided_by,
    representative, recorded_by, on_behalf_of, form_blob, form_type, form_size, note, recorded_at FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_0710 RENAME TO consent_events;

CREATE INDEX consent_events_key ON consent_events (patient_id, purpose, category, recorded_at);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
CREATE TRIGGER consent_events_no_replace BEFORE INSERT ON consent_events
WHEN EXISTS (SELECT 1 FROM consent_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
