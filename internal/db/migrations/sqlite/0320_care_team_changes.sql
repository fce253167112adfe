-- Care-team changes asked for under a break-glass grant. An emergency grant
-- must not turn into lasting access, so such a change is only a request
-- (status pending) until a privacy officer other than the requester approves
-- or rejects it from the break-glass review queue; approving applies it to
-- care_team in the same transaction.
CREATE TABLE care_team_changes (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT   NOT NULL,
    patient_id   TEXT   NOT NULL REFERENCES patients (id),
    grant_id     TEXT   NOT NULL REFERENCES break_glass_grants (id),
    op           TEXT   NOT NULL CHECK (op IN ('add', 'remove')),
    user_id      TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by   TEXT,
    decided_at   BIGINT
);
CREATE INDEX care_team_changes_grant ON care_team_changes (grant_id);
CREATE UNIQUE INDEX care_team_changes_one_pending ON care_team_changes (patient_id, user_id, op) WHERE status = 'pending';
