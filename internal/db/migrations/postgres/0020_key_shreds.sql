-- Shreds are announced to every server sharing the database. A shred adds
-- one to key_generation.generation and records the patient under the new
-- generation, in the transaction that destroys the key; each keyring reads
-- the generation at most every few seconds and drops the cached keys of the
-- patients shredded since the generation it last saw. One row, updated in
-- place, so generations commit in order (a sequence could commit 6 before 5).
CREATE TABLE key_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO key_generation (id, generation) VALUES (1, 0);

CREATE TABLE key_shreds (
    generation  BIGINT PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    shredded_at BIGINT NOT NULL
);
