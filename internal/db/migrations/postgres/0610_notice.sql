-- Privacy notices (issue 8): versioned notice documents for the platform
-- (workspace_id '') and for each workspace, the users' acceptances, and the
-- third-party processor registry the notice page lists. Notice versions and
-- acceptances are append-only: what a user accepted must stay what it was.
-- Nothing here is PHI: notices are public text, acceptances are ids and
-- times, processors are vendors.
CREATE TABLE notice_versions (
    id           TEXT     PRIMARY KEY,
    workspace_id TEXT     NOT NULL DEFAULT '',
    version      INTEGER  NOT NULL CHECK (version > 0),
    material     SMALLINT NOT NULL CHECK (material IN (0, 1)),
    title        TEXT     NOT NULL,
    body         TEXT     NOT NULL,
    summary      TEXT     NOT NULL DEFAULT '',
    published_at BIGINT   NOT NULL,
    published_by TEXT     NOT NULL DEFAULT '',
    UNIQUE (workspace_id, version)
);

CREATE TABLE notice_acceptances (
    user_id      TEXT    NOT NULL,
    notice_id    TEXT    NOT NULL REFERENCES notice_versions (id),
    workspace_id TEXT    NOT NULL DEFAULT '',
    version      INTEGER NOT NULL,
    accepted_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, notice_id)
);
CREATE INDEX notice_acceptances_scope ON notice_acceptances (user_id, workspace_id, version);

CREATE TABLE processors (
    id              TEXT     PRIMARY KEY,
    workspace_id    TEXT     NOT NULL DEFAULT '',
    name            TEXT     NOT NULL,
    purpose         TEXT     NOT NULL,
    baa             SMALLINT NOT NULL CHECK (baa IN (0, 1)),
    data_categories TEXT     NOT NULL,
    location        TEXT     NOT NULL,
    created_at      BIGINT   NOT NULL,
    retired_at      BIGINT   NOT NULL DEFAULT 0
);

CREATE FUNCTION notice_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER notice_versions_no_change BEFORE UPDATE OR DELETE ON notice_versions
    FOR EACH ROW EXECUTE FUNCTION notice_refuse_change();
CREATE TRIGGER notice_versions_no_truncate BEFORE TRUNCATE ON notice_versions
    FOR EACH STATEMENT EXECUTE FUNCTION notice_refuse_change();
CREATE TRIGGER notice_acceptances_no_change BEFORE UPDATE OR DELETE ON notice_acceptances
    FOR EACH ROW EXECUTE FUNCTION notice_refuse_change();
CREATE TRIGGER notice_acceptances_no_truncate BEFORE TRUNCATE ON notice_acceptances
    FOR EACH STATEMENT EXECUTE FUNCTION notice_refuse_change();
