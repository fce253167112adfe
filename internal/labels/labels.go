// Package labels holds the words people read for the codes the program
// writes: audit actions, purposes of use, decision reasons, roles,
// decisions and outcomes. Pages, the audit CSV export and the access matrix
// all take their words from here, so one code reads the same everywhere.
//
// It imports nothing of the program's own, so any package (access
// included) may use it; TestEveryEmittedCodeHasALabel walks the source and
// fails when a code the program can emit has no words here.
package labels

import (
	"sort"
	"strings"
)

// action is an audit action in words: Label is what the privacy officer
// reads in the log ("Opened a patient's full record"); Phrase is the
// patient's sentence after the person's name, with %s where the thing
// accessed goes ("opened %s" → "opened your record").
type action struct{ Label, Phrase string }

var actions = map[string]action{
	// Patients' records.
	"patient.list":                {"Saw the patient in the patient list", "saw your name in the patient list"},
	"patient.search":              {"Found the patient in a search", "found you in a patient search"},
	"patient.create":              {"Created a patient record", "created %s"},
	"patient.read":                {"Opened a patient's full record", "opened %s"},
	"patient.read_summary":        {"Saw a patient's name and basic details", "saw your name and basic details"},
	"patient.update":              {"Changed a patient's record", "changed %s"},
	"patient.age_check":           {"Checked a patient's age for the consent rules (automatic)", "checked your age for the consent rules"},
	"patient.key_shred":           {"Destroyed a patient's encryption key (all data erased)", "erased %s"},
	"patient.delete_everything":   {"Erased all of a patient's data", "erased %s"},
	"patient.portal_invite":       {"Invited a patient to the portal", "invited you to the patient portal"},
	"patient.representative_add":  {"Added a personal representative", "added a personal representative to %s"},
	"patient.representative_read": {"Read a patient's personal representatives", "looked at who represents you"},
	"careteam.manage":             {"Changed a patient's care team", "changed your care team"},
	"careteam.read":               {"Read a patient's care team", "looked at your care team"},
	"careteam.add":                {"Added a clinician to a care team", "added a clinician to your care team"},
	"careteam.remove":             {"Removed a clinician from a care team", "removed a clinician from your care team"},
	"careteam.approve":            {"Decided a care-team change asked for under emergency access", "decided a change to your care team"},
	"careteam.add_request":        {"Asked to add someone to the care team (waits for the privacy officer)", "asked to add a clinician to your care team"},
	"careteam.remove_request":     {"Asked to remove someone from the care team (waits for the privacy officer)", "asked to remove a clinician from your care team"},
	"careteam.change_approve":     {"Approved a care-team change asked for under emergency access", "approved a change to your care team"},
	"careteam.change_reject":      {"Rejected a care-team change asked for under emergency access", "rejected a change to your care team"},
	"breakglass.open":             {"Opened emergency (break-glass) access", "opened emergency access to %s"},
	"breakglass.review":           {"Reviewed an emergency access", "reviewed an emergency access to your record"},
	"breakglass.review_list":      {"Listed emergency accesses to review", "listed emergency accesses to review"},
	"breakglass.review_read":      {"Read an emergency access to review", "read an emergency access to your record for review"},

	// Cases and files.
	"case.list":                {"Listed a patient's cases", "looked at the list of your cases"},
	"case.create":              {"Opened a new case", "opened a new case for you"},
	"case.read":                {"Opened a case", "opened %s"},
	"case.recent":              {"Saw a case among their recent cases", "saw %s among their recent cases"},
	"case.update":              {"Changed a case", "changed %s"},
	"case.comment":             {"Commented on a case", "commented on %s"},
	"case.comment_edit":        {"Edited a comment on a case", "edited a comment on %s"},
	"case.share":               {"Changed what a case shares", "changed what is shared of %s"},
	"case.revisions":           {"Read a case's earlier versions", "read earlier versions of %s"},
	"case.collaborator_add":    {"Invited a collaborating clinician to a case", "invited a collaborating clinician to %s"},
	"case.collaborator_remove": {"Removed a collaborating clinician from a case", "removed a collaborating clinician from %s"},
	"file.list":                {"Listed a case's files", "looked at the list of files of %s"},
	"file.upload":              {"Uploaded a file", "uploaded %s"},
	"file.view":                {"Viewed a file", "viewed %s"},
	"file.view_series":         {"Viewed a series of images", "viewed %s"},
	"file.download":            {"Downloaded an original file", "downloaded %s"},

	// Patients' own captures and rehabilitation.
	"capture.upload":      {"Uploaded a 3D capture", "uploaded %s"},
	"capture.view":        {"Viewed a 3D capture", "viewed %s"},
	"capture.list":        {"Listed a patient's 3D captures", "looked at the list of your 3D captures"},
	"capture.attach":      {"Attached a 3D capture to a case", "attached %s to a case"},
	"capture.connect":     {"Connected a patient to a clinician", "connected you to a clinician"},
	"capture.connections": {"Read a patient's clinician connections", "looked at the clinicians you are connected to"},
	"capture.revoke":      {"Ended a patient's connection to a clinician", "ended your connection to a clinician"},
	"rehab.ingest":        {"Uploaded rehabilitation sessions", "uploaded rehabilitation sessions to %s"},
	"rehab.read":          {"Read rehabilitation progress", "looked at %s"},
	"rehab.plan":          {"Changed a rehabilitation programme", "changed %s"},

	// Consent and notices.
	"consent.read":           {"Read a patient's consents", "looked at your consents"},
	"consent.record":         {"Recorded a consent decision", "recorded a consent decision for you"},
	"consent.grant":          {"Recorded consent given", "recorded your consent"},
	"consent.withdraw":       {"Recorded consent withdrawn", "recorded that you withdrew consent"},
	"consent.check":          {"Checked consent before a use (automatic)", "checked your consent before using your information"},
	"consent.text_publish":   {"Published a consent text", "published a consent text"},
	"notice.publish":         {"Published a privacy notice", "published a privacy notice"},
	"notice.accept":          {"Accepted a privacy notice", "accepted a privacy notice"},
	"notice.delivery_read":   {"Read who has been given the privacy notice", "saw whether you had been given the privacy notice"},
	"notice.delivery_record": {"Recorded a privacy notice given in person or by post", "recorded that you were given the privacy notice"},
	"notice.delivery_bounce": {"Recorded that a privacy notice email bounced", "recorded that the privacy notice email to you bounced"},
	"processor.add":          {"Added a service provider to the notice", "added a service provider to the notice"},
	"processor.retire":       {"Removed a service provider from the notice", "removed a service provider from the notice"},
	"operator.create":        {"Created a platform operator account", "created a platform operator account"},
	// News to patients (outreach).
	"outreach.preview": {"Counted who would receive the practice's news", "counted who would receive the practice's news"},
	"outreach.compose": {"Wrote news to patients", "wrote news to patients"},
	"outreach.read":    {"Looked at news to patients", "looked at news to patients"},
	"outreach.send":    {"Sent news to patients", "sent news to patients"},
	"outreach.mail":    {"Emailed the practice's news to a patient", "emailed you the practice's news"},

	// The audit log itself.
	"audit.read_own": {"Read their own access history", "read who accessed your record"},
	"audit.read":     {"Read the audit log", "read the audit log entries about you"},
	"audit.export":   {"Exported the audit log", "exported the audit log entries about you"},
	// A privacy officer's page or export of the log shows the names of the
	// patients its entries are about: one entry per patient named.
	"audit.patient_names": {"Saw the patient's name in the audit log", "saw your name in the audit log"},
	"audit.person_search": {"Searched the audit log for a person", "searched the audit log for you"},

	// A request refused before any record was looked up (a malformed id in
	// the address).
	"request.refuse": {"Asked for an address that names no record", "asked for an address that names no record"},

	// Accounts and the workspace.
	"members.manage":              {"Managed workspace members", "managed workspace members"},
	"auth.signup":                 {"Signed up", "signed up"},
	"auth.signin":                 {"Signed in", "signed in"},
	"auth.signout":                {"Signed out", "signed out"},
	"auth.lockout":                {"Account locked after failed sign-ins", "was locked out"},
	"auth.reauth":                 {"Confirmed their password again", "confirmed their password"},
	"auth.email.verify":           {"Verified their email address", "verified their email address"},
	"auth.password.change":        {"Changed their password", "changed their password"},
	"auth.password.reset":         {"Reset their password", "reset their password"},
	"auth.password.reset_request": {"Asked for a password reset", "asked for a password reset"},
	"auth.mfa.enrol":              {"Set up two-step sign-in", "set up two-step sign-in"},
	"auth.mfa.verify":             {"Passed two-step sign-in", "passed two-step sign-in"},
	"auth.mfa.disable":            {"Turned off two-step sign-in", "turned off two-step sign-in"},
	"auth.mfa.recovery_codes":     {"Made new recovery codes", "made new recovery codes"},
	"auth.session.revoke":         {"Ended a session", "ended a session"},
	"auth.session.revoke_all":     {"Ended all their sessions", "ended all their sessions"},
	"auth.token.create":           {"Created an API token", "created an API token"},
	"auth.token.revoke":           {"Revoked an API token", "revoked an API token"},
	"auth.invitation.send":        {"Sent an invitation", "sent an invitation to see your record"},
	"auth.invitation.accept":      {"Accepted an invitation", "accepted an invitation"},
	"auth.invitation.resend":      {"Sent an invitation again", "sent an invitation again"},
	"auth.invitation.revoke":      {"Withdrew an invitation", "withdrew an invitation"},
	"auth.practice.request":       {"A patient asked a doctor to take them on", "asked a doctor to take you on"},
	"auth.workspace.rename":       {"Renamed the practice", "renamed the practice"},
	"auth.member.role":            {"Changed a member's role", "changed a member's role"},
	"auth.member.remove":          {"Removed a member", "removed a member"},
	"auth.unlock":                 {"Unlocked a member's account", "unlocked an account"},
	"auth.workspace.switch":       {"Switched workspace", "switched workspace"},
	"auth.workspace.mfa_required": {"Changed the two-step sign-in rule", "changed the two-step sign-in rule"},
}

// purposes are the purposes of use. The consent purposes' words are the
// consent page's titles (labels_test checks they agree); the others are
// the purposes the access policy assigns.
var purposes = map[string]string{
	"treatment":         "Treatment",
	"break_glass":       "Emergency access",
	"individual_access": "The patient's own access",
	"operations":        "Running the practice",
	"consent_capacity":  "Applying the consent rules (automatic)",
	"retention":         "Retention and destruction",

	"service":                   "Providing the service",
	"maintenance":               "Keeping the service running",
	"product_improvement":       "Improving our products",
	"new_products":              "Developing new products",
	"quality_assessment":        "Checking the quality of care",
	"registries_studies_trials": "Registries, studies and clinical trials",
	"clinical_guidelines":       "Writing clinical guidelines",
	"scientific_research":       "Scientific research",
	"scientific_evidence":       "Building scientific evidence",
	"patient_safety":            "Patient safety",
	"protocols":                 "Developing care protocols",
	"care_coordination":         "Coordinating care",
	"training_credentialing":    "Training and accrediting professionals",
	"publications":              "Publications",
	"fraud_abuse_detection":     "Detecting fraud and abuse",
	"statistics_performance":    "Statistics and performance reports",
	"ba_contract_work":          "Work for our partners under contract",
	"marketing":                 "Marketing",
	"sms":                       "Text messages",
}

// reasons say why a decision went the way it did.
var reasons = map[string]string{
	// Allowed.
	"care_team":               "on the patient's care team",
	"workspace_role":          "allowed by their role in the practice",
	"case_collaborator":       "invited to collaborate on the case",
	"self":                    "the patient themselves",
	"personal_representative": "the patient's personal representative",
	"shared_with_patient":     "shared with the patient",
	"uploader":                "uploaded the file",
	"patient_connected":       "the patient connected to them",
	"break_glass":             "emergency access",
	"operator_grant":          "a time-limited operator grant",
	"system_consent_rules":    "the system applying the consent rules",
	"privacy_officer":         "the practice's privacy officer",
	"operator_command":        "an operator command on the server",
	// Refused by the policy.
	"no_principal":                         "nobody signed in",
	"unknown_action":                       "not something Custodia allows",
	"token_scope_missing":                  "the API token does not allow this",
	"other_workspace":                      "belongs to another practice",
	"role_not_permitted":                   "their role does not allow this",
	"not_on_care_team":                     "not on the patient's care team",
	"not_a_collaborator":                   "not a collaborator on the case",
	"not_own_record":                       "not their own record",
	"not_shared_with_patient":              "not shared with the patient",
	"only_uploader_may_download":           "only the uploader may download the original",
	"patient_not_connected":                "the patient has not connected to them",
	"operator_without_grant":               "an operator without a grant",
	"not_found":                            "no such record",
	"patient_not_found":                    "no such patient",
	"no_such_patient":                      "no such patient",
	"not_in_patient_view":                  "not in what the patient may see",
	"not_comment_author":                   "only the author may edit a comment",
	"case_of_another_patient":              "the case belongs to another patient",
	"not_patient_or_representative":        "not a patient or representative",
	"not_privacy_officer":                  "not the privacy officer",
	"patient":                              "a patient's own account",
	"break_glass_grants_no_lasting_access": "emergency access cannot give lasting access",
	"break_glass_needs_approval":           "under emergency access this waits for the privacy officer's approval",
	"self_approval":                        "nobody may decide a change they asked for or that adds them",
	"malformed_id":                         "the address named no valid record",
	// Consent.
	"consent_not_required":       "no consent needed for this use",
	"express_consent":            "the patient consented",
	"no_consent":                 "the patient has not consented",
	"consent_withdrawn":          "the patient withdrew consent",
	"consent_text_superseded":    "the consent text changed since",
	"consent_text_expired":       "the consent text expired",
	"consent_text_not_current":   "the consent text is not the current one",
	"minor_needs_representative": "a minor's representative must decide",
	"not_representative":         "not the patient's representative",
	"invalid_input":              "the request was not valid",
	"error":                      "an error",
	"unsubscribe_link":           "the patient used the unsubscribe link in an email",
	"not_workspace_admin":        "not an administrator of this practice",
	// Sign-in.
	"bad_credentials":  "wrong email or password",
	"bad_code":         "wrong code",
	"wrong_password":   "wrong password",
	"email_unverified": "email address not verified yet",
	"stage_full":       "fully signed in",
	"stage_mfa":        "password accepted, code due",
	"stage_enrol":      "password accepted, two-step sign-in to set up",
}

var roles = map[string]string{
	"admin":           "Admin",
	"clinician":       "Clinician",
	"staff":           "Front desk",
	"privacy_officer": "Privacy officer",
	"patient":         "Patient",
	"representative":  "Personal representative",
	"operator":        "Platform operator",
	"system":          "Custodia (automatic)",
}

var decisions = map[string]string{"allow": "Allowed", "deny": "Refused"}

var outcomes = map[string]string{"success": "Done", "failure": "Failed", "denied": "Refused"}

var resources = map[string]string{
	"patient": "patient record", "case": "case", "file": "file", "capture": "3D capture", "rehab": "rehabilitation",
	"consent": "consent", "consent_text": "consent text", "workspace": "practice", "user": "account",
	"audit_log": "audit log", "access_history": "access history", "break_glass_grant": "emergency access",
	"notice": "privacy notice", "processor": "service provider",
	"outreach_campaign": "news to patients",
}

// Action is the audit action in the privacy officer's words.
func Action(code string) string {
	if a, ok := actions[code]; ok {
		return a.Label
	}
	return fallback(code)
}

// Code is a code with its words, for a list to choose from.
type Code struct{ Code, Label string }

// Actions lists every audit action with its words, sorted by the words,
// for the audit page's filter.
func Actions() []Code {
	out := make([]Code, 0, len(actions))
	for c, a := range actions {
		out = append(out, Code{c, a.Label})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

// Phrase is what the action says after a person's name in a sentence for
// the patient, with %s where the thing accessed goes (HasObject tells).
func Phrase(code string) string {
	if a, ok := actions[code]; ok {
		return a.Phrase
	}
	return "did " + strings.ToLower(fallback(code))
}

// HasObject reports whether Phrase(code) takes the thing accessed.
func HasObject(code string) bool { return strings.Contains(Phrase(code), "%s") }

// Purpose is the purpose of use in words.
func Purpose(code string) string {
	if p, ok := purposes[code]; ok {
		return p
	}
	return fallback(code)
}

// Reason is the decision's reason in words. A sign-in records other
// things there too (a role, an MFA method); a role reads as the role.
func Reason(code string) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	if r, ok := roles[code]; ok {
		return r
	}
	return fallback(code)
}

// Role is the role in words.
func Role(code string) string {
	if r, ok := roles[code]; ok {
		return r
	}
	return fallback(code)
}

// Decision is "allow" or "deny" in words.
func Decision(code string) string {
	if d, ok := decisions[code]; ok {
		return d
	}
	return fallback(code)
}

// Outcome is the entry's outcome in words.
func Outcome(code string) string {
	if o, ok := outcomes[code]; ok {
		return o
	}
	return fallback(code)
}

// Resource is a resource type in words ("patient record").
func Resource(code string) string {
	if r, ok := resources[code]; ok {
		return r
	}
	return strings.ReplaceAll(code, "_", " ")
}

// Bookkeeping reports whether an entry is the system's own work rather
// than a person's access (the age check the consent rules need, a consent
// check before a use): a patient's history hides these unless asked.
func Bookkeeping(action, purpose, actorRole string) bool {
	return actorRole == "system" || purpose == "consent_capacity" ||
		action == "patient.age_check" || action == "consent.check"
}

// fallback makes an unknown code readable rather than showing it raw:
// "some_new.code" becomes "Some new code". The walk test keeps known
// codes from needing it.
func fallback(code string) string {
	if code == "" {
		return ""
	}
	s := strings.NewReplacer("_", " ", ".", " ").Replace(code)
	return strings.ToUpper(s[:1]) + s[1:]
}
