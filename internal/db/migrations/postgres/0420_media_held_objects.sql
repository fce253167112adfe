-- A small file sent in one request keeps its encrypted object here, in the
-- row's own transaction, instead of in the blob store: one commit makes the
-- row and the bytes durable, with no filesystem sync of its own. The object
-- is the same sealed stream a blob would hold (patient key, the object name
-- as associated data), so readers decrypt it the same way.
CREATE TABLE media_held_objects (
    file_id        TEXT PRIMARY KEY REFERENCES media_files (id) ON DELETE CASCADE,
    object         TEXT NOT NULL,
    data           BYTEA NOT NULL
);

-- The janitor finds the file of an upload id (objects under media/u/ that
-- no session and no file owns are orphans of a crash).
CREATE INDEX media_files_upload ON media_files (upload_id);
