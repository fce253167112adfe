-- Identity: users, workspaces, memberships, patient links, invitations,
-- emailed one-time tokens, sessions, MFA recovery codes, API tokens and
-- sign-in failure counters. Every secret a client presents (session, token,
-- invitation, emailed link, recovery code) is stored only as its SHA-256.
-- Times are Unix microseconds. Flags are INTEGER 0/1 so both dialects agree.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,       -- lower-cased
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,              -- $argon2id$v=19$m=...,t=...,p=...$salt$hash
    email_verified_at BIGINT,
    operator          INTEGER NOT NULL DEFAULT 0, -- platform staff; no PHI without a grant
    totp_sealed       BYTEA,                       -- AES-256-GCM sealed TOTP secret, AD = user id
    totp_pending      BYTEA,                       -- sealed secret awaiting its first code
    totp_last_step    BIGINT NOT NULL DEFAULT 0,  -- last accepted time step, against replay
    mfa_enabled_at    BIGINT,
    created_at        BIGINT NOT NULL,
    password_at       BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    mfa_required INTEGER NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'staff', 'privacy_officer')),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- The patient records arrive in a later migration; this is only the link.
CREATE TABLE patient_users (
    user_id      TEXT NOT NULL REFERENCES users (id),
    patient_id   TEXT NOT NULL,
    relationship TEXT NOT NULL CHECK (relationship IN ('self', 'representative')),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, patient_id)
);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('member', 'patient', 'collaborator')),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    patient_id   TEXT,
    invited_by   TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    accepted_by  TEXT REFERENCES users (id)
);
CREATE INDEX invitations_workspace ON invitations (workspace_id);

-- Single-use emailed links: email verification and password reset.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id),
    stage        TEXT NOT NULL CHECK (stage IN ('mfa', 'enrol', 'full')),
    workspace_id TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    client_addr  TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id),
    workspace_id TEXT,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,                   -- space-separated, from a closed list
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Consecutive sign-in failures per account ("acct:" + SHA-256 of the email,
-- so unknown and known addresses are throttled alike) and per client address.
CREATE TABLE auth_failures (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_at    BIGINT NOT NULL
);
