-- Patient records and cases. Every PHI value is sealed with the patient's
-- key (AES-256-GCM, associated data = table, row id, column), so these
-- tables hold ciphertext, ids, codes and times only. Search goes through
-- blind indexes (keyed HMACs of normalised values) in patient_search.
-- Workspace and user ids are plain text: the identity tables live in
-- another migration range and a collaborator may belong to another
-- workspace, so no foreign keys point there.

CREATE TABLE patients (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    version      INTEGER NOT NULL,
    profile      BLOB   NOT NULL,  -- sealed JSON: the full profile
    summary      BLOB   NOT NULL   -- sealed JSON: the minimum a collaborator needs
);
-- Lists page newest first inside a workspace (names are ciphertext, so
-- there is no alphabetical order in the database).
CREATE INDEX patients_workspace ON patients (workspace_id, created_at, id);

-- Blind indexes: one row per name token, birth date, MRN and email.
CREATE TABLE patient_search (
    workspace_id TEXT NOT NULL,
    term         BLOB NOT NULL CHECK (length(term) = 16),
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    PRIMARY KEY (workspace_id, term, patient_id)
);
CREATE INDEX patient_search_patient ON patient_search (patient_id);

CREATE TABLE care_team (
    patient_id TEXT   NOT NULL REFERENCES patients (id),
    user_id    TEXT   NOT NULL,
    added_by   TEXT   NOT NULL,
    added_at   BIGINT NOT NULL,
    removed_by TEXT,
    removed_at BIGINT
);
CREATE UNIQUE INDEX care_team_active ON care_team (patient_id, user_id) WHERE removed_at IS NULL;
CREATE INDEX care_team_user ON care_team (user_id, patient_id);

-- Parents and guardians acting for a patient (164.502(g)). user_id is empty
-- until the representative has an account; details (name, email) are sealed.
CREATE TABLE personal_representatives (
    id           TEXT PRIMARY KEY,
    patient_id   TEXT   NOT NULL REFERENCES patients (id),
    relationship TEXT   NOT NULL CHECK (relationship IN ('parent', 'guardian', 'legal_representative')),
    user_id      TEXT   NOT NULL DEFAULT '',
    details      BLOB   NOT NULL,
    added_by     TEXT   NOT NULL,
    added_at     BIGINT NOT NULL,
    removed_at   BIGINT
);
CREATE INDEX personal_representatives_patient ON personal_representatives (patient_id);

-- Emergency access outside normal rights: time-limited, with a reason code
-- and a sealed free-text reason, each one queued for privacy officer review.
CREATE TABLE break_glass_grants (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT   NOT NULL,
    patient_id   TEXT   NOT NULL REFERENCES patients (id),
    user_id      TEXT   NOT NULL,
    reason_code  TEXT   NOT NULL,
    reason       BLOB   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX break_glass_grants_active ON break_glass_grants (patient_id, user_id, expires_at);

CREATE TABLE break_glass_reviews (
    grant_id     TEXT PRIMARY KEY REFERENCES break_glass_grants (id),
    workspace_id TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('pending', 'reviewed')),
    reviewed_by  TEXT,
    reviewed_at  BIGINT,
    notes        BLOB
);
CREATE INDEX break_glass_reviews_queue ON break_glass_reviews (workspace_id, status);

-- Cases: the current state, sealed; every edit also appends a full sealed
-- snapshot to case_revisions, so nothing is silently overwritten.
CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT    NOT NULL,
    patient_id   TEXT    NOT NULL REFERENCES patients (id),
    status       TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    shared       INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),        -- summary shared with the patient
    notes_shared INTEGER NOT NULL DEFAULT 0 CHECK (notes_shared IN (0, 1)),  -- notes shared too
    version      INTEGER NOT NULL,
    body         BLOB    NOT NULL,  -- sealed JSON: title, date, notes
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX cases_patient ON cases (patient_id, created_at);

CREATE TABLE case_revisions (
    case_id    TEXT    NOT NULL REFERENCES cases (id),
    version    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    body       BLOB    NOT NULL,    -- sealed JSON snapshot, AD row = case_id/version
    edited_by  TEXT    NOT NULL,
    edited_at  BIGINT  NOT NULL,
    PRIMARY KEY (case_id, version)
);

-- Comments and annotations are append-only: an edit is a new version.
CREATE TABLE case_comments (
    id         TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    case_id    TEXT    NOT NULL REFERENCES cases (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('comment', 'annotation')),
    author_id  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    body       BLOB    NOT NULL,    -- sealed JSON: text and, for annotations, the anchor
    PRIMARY KEY (id, version)
);
CREATE INDEX case_comments_case ON case_comments (case_id, created_at);

CREATE TABLE case_collaborators (
    case_id    TEXT   NOT NULL REFERENCES cases (id),
    user_id    TEXT   NOT NULL,
    added_by   TEXT   NOT NULL,
    added_at   BIGINT NOT NULL,
    removed_by TEXT,
    removed_at BIGINT
);
CREATE UNIQUE INDEX case_collaborators_active ON case_collaborators (case_id, user_id) WHERE removed_at IS NULL;
CREATE INDEX case_collaborators_user ON case_collaborators (user_id, case_id);
