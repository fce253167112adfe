-- Key hierarchy: the master key (outside the database) wraps workspace keys,
-- which wrap patient keys. Shredding a patient key deletes its wrapped bytes.
CREATE TABLE data_keys (
    id             TEXT PRIMARY KEY,
    owner_kind     TEXT NOT NULL CHECK (owner_kind IN ('workspace', 'patient')),
    owner_id       TEXT NOT NULL,
    parent_id      TEXT REFERENCES data_keys (id),
    wrapping_key   TEXT NOT NULL,
    wrapped        BLOB,
    created_at     BIGINT NOT NULL,
    rotated_at     BIGINT,
    shredded_at    BIGINT,
    UNIQUE (owner_kind, owner_id)
);
