-- News to patients: a workspace's non-transactional messages.
--   outreach_campaigns: one message an admin composed, and its send's
--     progress. Subject and text are the workspace's news, written under
--     the page's rule that they hold no PHI, so they are stored plain.
--   outreach_recipients: each patient a send reached or tried to reach,
--     with the outcome; the patient's id only, never an address.
CREATE TABLE outreach_campaigns (
    id           TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('draft', 'sending', 'done')),
    sent_by      TEXT    NOT NULL DEFAULT '',
    started_at   BIGINT  NOT NULL DEFAULT 0,
    finished_at  BIGINT  NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0, -- patients considered at send time
    sent         INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    excluded     INTEGER NOT NULL DEFAULT 0  -- no marketing consent at send time
);
CREATE INDEX outreach_campaigns_ws ON outreach_campaigns (workspace_id, created_at);

CREATE TABLE outreach_recipients (
    campaign_id TEXT   NOT NULL REFERENCES outreach_campaigns (id),
    patient_id  TEXT   NOT NULL,
    status      TEXT   NOT NULL CHECK (status IN ('sent', 'failed', 'excluded')),
    reason      TEXT   NOT NULL DEFAULT '', -- a code: consent_withdrawn, no_consent, mail_failed
    at          BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, patient_id)
);
