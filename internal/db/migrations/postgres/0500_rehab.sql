-- Remote rehabilitation: programmes, device sessions with their exercises, and
-- calibration measurements. Every clinical value (including every date and
-- time, which are PHI under HIPAA 164.514(b)(2)(C)) is packed into one sealed
-- JSON record per row, encrypted with the patient's key and bound to
-- table/row/"record". The only plaintext besides ids is the year: the one
-- date element Safe Harbor lets through, kept so reads of a range decrypt
-- only the years they need. Device client ids are stored as a keyed blind
-- index (client_ref), never in plaintext, so retries can be recognised.
-- patient_id refers to patients(id), which the records domain owns; the
-- foreign key is left to the migration that joins the two.
CREATE TABLE rehab_programmes (
    id          TEXT    PRIMARY KEY,
    patient_id  TEXT    NOT NULL,
    version     INTEGER NOT NULL,               -- 1, 2, ...: the latest is the programme in force
    created_by  TEXT    NOT NULL,               -- the therapist's user id
    record      BYTEA   NOT NULL,               -- sealed JSON: name, planned exercises, created_at
    UNIQUE (patient_id, version)
);

CREATE TABLE rehab_sessions (
    id          TEXT    PRIMARY KEY,
    patient_id  TEXT    NOT NULL,
    client_ref  BYTEA   NOT NULL,               -- blind index of the device's client id
    year        INTEGER NOT NULL,               -- UTC year of the session start
    record      BYTEA   NOT NULL,               -- sealed JSON: client id, device id, start, end, score, game time
    UNIQUE (patient_id, client_ref)
);
CREATE INDEX rehab_sessions_year ON rehab_sessions (patient_id, year);

CREATE TABLE rehab_exercises (
    session_id  TEXT    NOT NULL REFERENCES rehab_sessions (id),
    ordinal     INTEGER NOT NULL,               -- position within the session's upload
    patient_id  TEXT    NOT NULL,
    year        INTEGER NOT NULL,               -- UTC year of the exercise date
    record      BYTEA   NOT NULL,               -- sealed JSON: type, inventory, level, side, date, duration, performance
    PRIMARY KEY (session_id, ordinal)
);
CREATE INDEX rehab_exercises_year ON rehab_exercises (patient_id, year);

CREATE TABLE rehab_calibrations (
    id          TEXT    PRIMARY KEY,
    patient_id  TEXT    NOT NULL,
    client_ref  BYTEA   NOT NULL,
    year        INTEGER NOT NULL,
    record      BYTEA   NOT NULL,               -- sealed JSON: client id, device id, measured at, values with times
    UNIQUE (patient_id, client_ref)
);
CREATE INDEX rehab_calibrations_year ON rehab_calibrations (patient_id, year);
