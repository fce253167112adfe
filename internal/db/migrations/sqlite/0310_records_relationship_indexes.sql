-- The policy's relationship facts (patient.relationshipFacts) are read on
-- every patient read. These indexes answer them from the index alone:
-- whether a user is on a patient's active care team, and whether the user
-- actively collaborates on one of the patient's cases, looked up from the
-- patient's cases (few) rather than from the user's collaborations (a
-- busy doctor has hundreds, each of which cost a lookup before).
CREATE INDEX care_team_member ON care_team (patient_id, user_id, removed_at);
CREATE INDEX cases_patient_ids ON cases (patient_id, id);
CREATE INDEX case_collaborators_member ON case_collaborators (case_id, user_id, removed_at);
