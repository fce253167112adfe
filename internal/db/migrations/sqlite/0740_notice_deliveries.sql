-- Delivery of privacy notices (issue 16, 164.520(c)): one row per person
-- and reason a notice version was (or is to be) given to them. kind is
-- 'material' (a material change, due within 60 days of publication),
-- 'availability' (the three-yearly notice of availability; round counts
-- them) or 'enrolment' (accepted at the gate when the person joined). The
-- primary key makes queueing idempotent across restarts and servers
-- (INSERT ... ON CONFLICT DO NOTHING); claimed_by/claimed_until are the
-- lease a sweeper holds while it mails a row. Nothing here is PHI: ids,
-- codes and times; names and addresses stay sealed in users.
CREATE TABLE notice_deliveries (
    notice_id     TEXT    NOT NULL REFERENCES notice_versions (id),
    user_id       TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('material', 'availability', 'enrolment')),
    round         INTEGER NOT NULL DEFAULT 0,
    workspace_id  TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'bounced', 'delivered', 'superseded')),
    method        TEXT    NOT NULL DEFAULT '' CHECK (method IN ('', 'email', 'enrolment', 'in_app', 'in_person', 'post')),
    queued_at     BIGINT  NOT NULL,
    deadline_at   BIGINT  NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT    NOT NULL DEFAULT '',
    claimed_until BIGINT  NOT NULL DEFAULT 0,
    sent_at       BIGINT  NOT NULL DEFAULT 0,
    bounced_at    BIGINT  NOT NULL DEFAULT 0,
    delivered_at  BIGINT  NOT NULL DEFAULT 0,
    delivered_by  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (notice_id, user_id, kind, round)
);
CREATE INDEX notice_deliveries_queue ON notice_deliveries (status, claimed_until);
CREATE INDEX notice_deliveries_scope ON notice_deliveries (workspace_id, user_id);

-- A material version whose audience has been queued: its audience is
-- computed once, in the transaction that queues it.
CREATE TABLE notice_delivery_runs (
    notice_id TEXT   PRIMARY KEY REFERENCES notice_versions (id),
    queued_at BIGINT NOT NULL,
    audience  INTEGER NOT NULL
);
