-- Issue 16: whether a processor receives health information decides what
-- the notice says about its business associate agreement: "in place",
-- "missing" (it receives PHI and has none) or "not needed" (it receives no
-- PHI). Existing rows are assumed to receive PHI, so a missing agreement is
-- shown as missing rather than excused.
ALTER TABLE processors ADD COLUMN receives_phi INTEGER NOT NULL DEFAULT 1 CHECK (receives_phi IN (0, 1));
