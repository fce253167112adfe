-- Account fields sealed at rest. A portal account's email and name link a
-- named person to a clinic, so every account's email and display name, and
-- every invitee's address, are AES-256-GCM sealed with the platform's account
-- key (data_keys owner 'system:accounts', wrapped by the master key), bound
-- to table, row and column. Sign-in finds an account by email_index, a keyed
-- HMAC of the lower-cased address (16 bytes), unique like the address was.
--
-- SQL cannot encrypt: rows written before this migration are sealed by the
-- server at start-up (identity.Service.SealAccounts), which then overwrites
-- the plaintext. The old columns stay because SQLite cannot drop a UNIQUE or
-- NOT NULL column without rebuilding the table: from now on users.email holds
-- the user id (unique, not personal), users.name and invitations.email hold ''.
ALTER TABLE users ADD COLUMN email_enc BLOB;
ALTER TABLE users ADD COLUMN name_enc BLOB;
ALTER TABLE users ADD COLUMN email_index BLOB;
CREATE UNIQUE INDEX users_email_index ON users (email_index);

ALTER TABLE invitations ADD COLUMN email_enc BLOB;
ALTER TABLE invitations ADD COLUMN email_index BLOB;
