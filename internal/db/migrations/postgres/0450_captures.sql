-- Patient captures: 3D scans a patient uploads to their own account, not to
-- a case. Rows hold ids, kind and size; what parsing found (counts) is sealed
-- with the patient's key in info, and the bytes are one blob object
-- encrypted with that key.
CREATE TABLE captures (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    uploader_id    TEXT NOT NULL,
    kind           TEXT NOT NULL,
    size           BIGINT NOT NULL,
    object         TEXT NOT NULL,
    info           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX captures_patient ON captures (patient_id, created_at);

-- A capture attached to a case was copied into the case record as a media
-- file; from then on that file follows the case's rules.
CREATE TABLE capture_attachments (
    capture_id     TEXT NOT NULL REFERENCES captures (id),
    case_id        TEXT NOT NULL,
    file_id        TEXT NOT NULL,
    attached_by    TEXT NOT NULL,
    attached_at    BIGINT NOT NULL,
    PRIMARY KEY (capture_id, case_id)
);

-- Connections between a patient and a doctor, as an append-only list of
-- events: the current state of a pair is its latest event. Nothing is
-- updated or deleted, so the history of consent stays readable.
CREATE TABLE capture_connection_events (
    id             TEXT PRIMARY KEY,
    seq            BIGINT NOT NULL,
    workspace_id   TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    clinician_id   TEXT NOT NULL,
    event          TEXT NOT NULL CHECK (event IN ('connect', 'revoke')),
    connection_id  TEXT NOT NULL,
    recorded_by    TEXT NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX capture_connection_events_pair ON capture_connection_events (patient_id, clinician_id, seq);
