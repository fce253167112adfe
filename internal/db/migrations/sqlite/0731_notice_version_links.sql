-- Issue 16: each stored record remembers the privacy notice version in force
-- when it was collected (the workspace's notice, or the platform's when the
-- workspace has none). NULL: collected before any notice was published, or
-- before this column existed.
ALTER TABLE consent_events ADD COLUMN notice_id TEXT REFERENCES notice_versions (id);
ALTER TABLE consent_texts ADD COLUMN notice_id TEXT REFERENCES notice_versions (id);
ALTER TABLE patients ADD COLUMN notice_id TEXT REFERENCES notice_versions (id);
