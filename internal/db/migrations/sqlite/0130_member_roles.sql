-- A member holds a set of roles in a workspace: the doctor who founds a
-- practice is its admin and one of its clinicians. One row per role held;
-- memberships keeps one row per (workspace, user), and its role column now
-- holds the primary role (first of clinician, admin, privacy_officer, staff),
-- kept by the application, for code and audit entries that name one role.
CREATE TABLE member_roles (
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'staff', 'privacy_officer')),
    PRIMARY KEY (workspace_id, user_id, role),
    FOREIGN KEY (workspace_id, user_id) REFERENCES memberships (workspace_id, user_id) ON DELETE CASCADE
);
CREATE INDEX member_roles_role ON member_roles (workspace_id, role);

-- Every existing member keeps exactly the one role they had.
INSERT INTO member_roles (workspace_id, user_id, role) SELECT workspace_id, user_id, role FROM memberships;

-- An admin may withdraw an invitation not yet accepted; resending replaces
-- its token (the old link stops working) and its expiry.
ALTER TABLE invitations ADD COLUMN revoked_at BIGINT;
ALTER TABLE invitations ADD COLUMN sent_at BIGINT;
