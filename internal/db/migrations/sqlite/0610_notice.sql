-- Privacy notices (issue 8): versioned notice documents for the platform
-- (workspace_id '') and for each workspace, the users' acceptances, and the
-- third-party processor registry the notice page lists. Notice versions and
-- acceptances are append-only: what a user accepted must stay what it was.
-- Nothing here is PHI: notices are public text, acceptances are ids and
-- times, processors are vendors.
CREATE TABLE notice_versions (
    id           TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL DEFAULT '',    -- '' = the platform notice
    version      INTEGER NOT NULL CHECK (version > 0),
    material     INTEGER NOT NULL CHECK (material IN (0, 1)),
    title        TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    summary      TEXT    NOT NULL DEFAULT '',    -- what changed, shown on the acceptance page
    published_at BIGINT  NOT NULL,
    published_by TEXT    NOT NULL DEFAULT '',
    UNIQUE (workspace_id, version)
);

CREATE TABLE notice_acceptances (
    user_id     TEXT    NOT NULL,
    notice_id   TEXT    NOT NULL REFERENCES notice_versions (id),
    workspace_id TEXT   NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    accepted_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, notice_id)
);
CREATE INDEX notice_acceptances_scope ON notice_acceptances (user_id, workspace_id, version);

CREATE TABLE processors (
    id              TEXT    PRIMARY KEY,
    workspace_id    TEXT    NOT NULL DEFAULT '',  -- '' = used by the platform itself
    name            TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    baa             INTEGER NOT NULL CHECK (baa IN (0, 1)),
    data_categories TEXT    NOT NULL,
    location        TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    retired_at      BIGINT  NOT NULL DEFAULT 0
);

CREATE TRIGGER notice_versions_no_update BEFORE UPDATE ON notice_versions
BEGIN SELECT RAISE(ABORT, 'notice versions are append-only'); END;
CREATE TRIGGER notice_versions_no_delete BEFORE DELETE ON notice_versions
BEGIN SELECT RAISE(ABORT, 'notice versions are append-only'); END;
CREATE TRIGGER notice_acceptances_no_update BEFORE UPDATE ON notice_acceptances
BEGIN SELECT RAISE(ABORT, 'notice acceptances are append-only'); END;
CREATE TRIGGER notice_acceptances_no_delete BEFORE DELETE ON notice_acceptances
BEGIN SELECT RAISE(ABORT, 'notice acceptances are append-only'); END;
