-- Media: restartable uploads and the files they become. Rows hold ids,
-- kinds and sizes only; what a file says about the patient (the DICOM index,
-- dimensions) is sealed with the patient's key in media_files.info, and the
-- bytes live in blob objects encrypted with that key.
CREATE TABLE media_uploads (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    case_id        TEXT NOT NULL,
    uploader_id    TEXT NOT NULL,
    slot           TEXT NOT NULL,
    expected_size  BIGINT NOT NULL CHECK (expected_size > 0),
    received       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX media_uploads_expires ON media_uploads (expires_at);

-- Each chunk is its own encrypted object; the object name carries the
-- upload id and offset, and readers check both, so parts cannot be
-- reordered or moved between uploads by editing rows.
CREATE TABLE media_upload_parts (
    upload_id      TEXT NOT NULL REFERENCES media_uploads (id) ON DELETE CASCADE,
    offset_bytes   BIGINT NOT NULL,
    length         BIGINT NOT NULL CHECK (length > 0),
    object         TEXT NOT NULL,
    PRIMARY KEY (upload_id, offset_bytes)
);

CREATE TABLE media_files (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    case_id        TEXT NOT NULL,
    uploader_id    TEXT NOT NULL,
    upload_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    size           BIGINT NOT NULL,
    view_object    TEXT,
    thumb_object   TEXT,
    info           BLOB NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX media_files_case ON media_files (case_id);
CREATE INDEX media_files_patient ON media_files (patient_id);

CREATE TABLE media_file_parts (
    file_id        TEXT NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    offset_bytes   BIGINT NOT NULL,
    length         BIGINT NOT NULL,
    object         TEXT NOT NULL,
    PRIMARY KEY (file_id, offset_bytes)
);
