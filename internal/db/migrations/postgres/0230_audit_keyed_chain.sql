-- From here on the checkpoints form a chain of their own: each names its
-- number (1, 2, ... over every checkpoint, those written before this
-- migration counted in seq order) and the SHA-256 of the previous
-- checkpoint's signed message, and signs both ("custodia audit checkpoint
-- v2"), so a deleted or reordered checkpoint breaks the chain. kind says why
-- it was written (0: the interval passed while entries flowed, 1: the log
-- closed cleanly, 2: the log opened on entries no checkpoint covered, after
-- an unclean stop), so Verify knows which long gaps are explained. Checkpoints
-- written before this migration have NULL in all three and are checked against
-- the version 1 message. The entries' links become keyed (an HMAC with a key
-- derived from the key hierarchy, encoding version 2); that needs no column:
-- the triggers of migration 0200 go on checking only that each row's
-- prev_hash is the hash of the row before it, which needs no key.
ALTER TABLE audit_checkpoints ADD COLUMN number BIGINT CHECK (number > 0);
ALTER TABLE audit_checkpoints ADD COLUMN prev_checkpoint BYTEA CHECK (length(prev_checkpoint) = 32);
ALTER TABLE audit_checkpoints ADD COLUMN kind SMALLINT CHECK (kind IN (0, 1, 2));
CREATE UNIQUE INDEX audit_checkpoints_number ON audit_checkpoints (number);
