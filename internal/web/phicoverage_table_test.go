package web_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"time"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/media/mediatest"
	"github.com/custodia-health/custodia/internal/rehab/rehabtest"
)

// c is one request of a PHI route's scenario: as whom, what, the status it
// must answer and the exact audit entries ("action decision") it appends.
func c(as, method, path string, body any, status int, entries ...string) coverCall {
	return coverCall{As: as, Method: method, Path: path, Body: body, Status: status, Entries: entries}
}

// unaudited explains why a refusal appends no entry.
func (c coverCall) unaudited(why string) coverCall {
	c.Unaudited = why
	return c
}

func phi(pattern string, calls ...coverCall) coveredRoute {
	return coveredRoute{Pattern: pattern, Calls: calls}
}

func public(pattern, reason string) coveredRoute {
	return coveredRoute{Pattern: pattern, Public: reason}
}

// Reasons shared by several public routes.
const (
	whyAuth      = "sign-in, sign-up and account recovery: the person's own credentials, no patient data; identity audits its own events"
	whyAccount   = "the signed-in person's own account, sessions and tokens: no patient data; identity audits changes"
	whyMembers   = "workspace membership (staff names and roles), no patient data; identity audits changes"
	whyNotice    = "the workspace's privacy notices and processor registry: published texts, no patient data"
	whyPlatform  = "platform endpoint with no data: health, static files, API description, fallbacks"
	whyEmptyForm = "an empty form or a static reference page: renders no patient data and reads none"
	// whyNews: the pages show the practice's own news text and counts, never
	// a patient's name or id; outreach audits each step (preview, compose,
	// send, and each message with the patient and purpose marketing).
	whyNews = "the practice's news text and recipient counts, no patient data; admins only, outreach audits every step"
	// whyUnsubscribe: no session; the signed token names the patient, the
	// page shows only the practice's name, and the withdrawal is audited by
	// consent (consent.withdraw, reason unsubscribe_link).
	whyUnsubscribe = "one-click unsubscribe by signed link: shows the practice's name only; the withdrawal is audited by consent"

	// whyUploadSession: an upload session is looked up by id and uploader,
	// so another user's session id is simply unknown: no record is read or
	// decided on. The session's owner is audited when the upload opens and
	// again when it completes (file.upload); its chunks are the owner's own
	// bytes on the way in.
	whyUploadSession = "upload sessions belong to their uploader; another user's id is unknown and touches no record"
	whyUploadStatus  = "an upload's status is its size and the bytes received: no PHI"
	whyNotAPatient   = "only a patient has captures and connections: a member's request names no record and is refused before any is read"
	whyUploadChunk   = "a chunk is the uploader's own bytes on the way in, audited as file.upload when the upload opens and completes"
)

const (
	// whySeriesImage: a series is opened by one audited access
	// (file.view_series, in the fixture) that lists its images; each image
	// is then released under that entry, which the handler counts as the
	// request's receipt.
	whySeriesImage = "covered by the file.view_series entry that opened the series and listed this image"
	whySeriesGrant = "a series view's grant belongs to the sign-in it was issued to; another user's grant is unknown and touches no record"
)

// paperForm is a multipart paper consent: the fields, then a signed form
// that sniffs as a PDF.
func paperForm(as string, status int, entries ...string) coverCall {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("purpose", "sms")
	mw.WriteField("action", "grant")
	fw, _ := mw.CreateFormFile("form", "signed.pdf")
	fw.Write([]byte("%PDF-1.4\n% signed consent\n"))
	mw.Close()
	return coverCall{As: as, Method: "POST", Path: "/patients/{patient}/consents/paper", Body: b.Bytes(),
		Header: map[string]string{"Content-Type": mw.FormDataContentType()}, Status: status, Entries: entries}
}

// captureForm is the portal's capture upload: a multipart form with one
// binary STL.
func captureForm(as string, status int, entries ...string) coverCall {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "scan.stl")
	fw.Write(mediatest.BinarySTL(8))
	mw.Close()
	return coverCall{As: as, Method: "POST", Path: "/me/captures", Body: b.Bytes(),
		Header: map[string]string{"Content-Type": mw.FormDataContentType()}, Status: status, Entries: entries}
}

// coverUploadChunk is the body of the open upload's only chunk (its size is
// the one the fixture declared: mediatest.BinarySTL(40)).
var coverUploadChunk = mediatest.BinarySTL(40)

// coverage classifies every registered route, in the order the walk runs
// them (some requests change what later ones see). Routes with Calls are
// PHI routes; each lists an allowed request and, for reads, one refused to
// the other workspace's clinician or to a role the policy turns away.
var coverage = []coveredRoute{
	// Identity: credentials and accounts.
	public("GET /signup", whyAuth), public("POST /signup", whyAuth), public("GET /verify", whyAuth), public("POST /verify", whyAuth),
	public("GET /signin", whyAuth), public("POST /signin", whyAuth), public("GET /signin/mfa", whyAuth), public("POST /signin/mfa", whyAuth),
	public("POST /signout", whyAuth), public("GET /forgot", whyAuth), public("POST /forgot", whyAuth), public("GET /reset", whyAuth),
	public("POST /reset", whyAuth), public("GET /invitations/accept", whyAuth), public("POST /invitations/accept", whyAuth),
	public("POST /api/v1/auth/signup", whyAuth), public("POST /api/v1/auth/verify-email", whyAuth), public("POST /api/v1/auth/signin", whyAuth),
	public("POST /api/v1/auth/mfa", whyAuth), public("POST /api/v1/auth/signout", whyAuth), public("POST /api/v1/auth/forgot", whyAuth),
	public("POST /api/v1/auth/reset", whyAuth), public("POST /api/v1/invitations/accept", whyAuth),
	public("GET /account", whyAccount), public("POST /account/password", whyAccount), public("GET /account/mfa/enrol", whyAccount),
	public("POST /account/mfa/enrol", whyAccount), public("POST /account/mfa/disable", whyAccount), public("POST /account/recovery-codes", whyAccount),
	public("POST /account/sessions/{id}/revoke", whyAccount), public("POST /account/sessions/revoke-all", whyAccount),
	public("POST /account/tokens", whyAccount), public("POST /account/tokens/{id}/revoke", whyAccount), public("POST /workspaces/switch", whyAccount),
	public("GET /api/v1/me", whyAccount), public("GET /api/v1/me/sessions", whyAccount), public("DELETE /api/v1/me/sessions", whyAccount),
	public("DELETE /api/v1/me/sessions/{id}", whyAccount), public("GET /api/v1/me/tokens", whyAccount), public("POST /api/v1/me/tokens", whyAccount),
	public("DELETE /api/v1/me/tokens/{id}", whyAccount),
	public("GET /workspace/members", whyMembers), public("POST /workspace/members/invite", whyMembers),
	public("POST /workspace/members/{user}/role", whyMembers), public("POST /workspace/members/{user}/remove", whyMembers),
	public("POST /workspace/members/{user}/unlock", whyMembers), public("POST /workspace/settings/mfa", whyMembers),
	public("POST /workspace/settings/name", whyMembers), public("POST /workspace/invitations/{id}/resend", whyMembers),
	public("POST /workspace/invitations/{id}/revoke", whyMembers),
	public("GET /signup/patient", whyAuth), public("POST /signup/patient", whyAuth),
	public("GET /portal", whyAccount), public("POST /portal/practice-request", whyAccount),
	public("GET /api/v1/workspaces/{id}/members", whyMembers), public("PATCH /api/v1/workspaces/{id}/members/{user}", whyMembers),
	public("DELETE /api/v1/workspaces/{id}/members/{user}", whyMembers),
	public("GET /api/v1/workspaces/{id}/invitations", whyMembers),
	public("POST /api/v1/workspaces/{id}/invitations/{invitation}/resend", whyMembers),
	public("DELETE /api/v1/workspaces/{id}/invitations/{invitation}", whyMembers),
	public("PATCH /api/v1/workspaces/{id}", whyMembers),
	// The invitation form names the patient chosen on their page: a summary
	// read. Without a patient it is the search form and shows no PHI.
	phi("GET /workspace/patients/invite",
		c(asDoc, "GET", "/workspace/patients/invite", nil, 200).unaudited(whyEmptyForm),
		c(asDoc, "GET", "/workspace/patients/invite?patient={patient}", nil, 200, "patient.read_summary allow"),
		c(asOther, "GET", "/workspace/patients/invite?patient={patient}", nil, 404, "patient.read_summary deny")),
	// Patient invitations link an account to a record: the records decide
	// and audit (patient.portal_invite) before identity sends anything.
	phi("POST /workspace/patients/invite",
		c(asDoc, "POST", "/workspace/patients/invite", coverForm("email", "anna.second@example.org", "role", "patient", "patient_id", "{patient}"), 200,
			"patient.portal_invite allow", "auth.invitation.send"),
		c(asOther, "POST", "/workspace/patients/invite", coverForm("email", "x@example.org", "role", "patient", "patient_id", "{patient}"), 404,
			"patient.portal_invite deny")),
	phi("POST /api/v1/workspaces/{id}/invitations",
		c(asAdmin, "POST", "/api/v1/workspaces/{ws}/invitations", map[string]string{"kind": "member", "email": "new.staff@a.example", "role": "staff"}, 201,
			"auth.invitation.send"),
		c(asDoc, "POST", "/api/v1/workspaces/{ws}/invitations", map[string]string{"kind": "patient", "email": "anna.third@example.org", "role": "patient", "patient_id": "{patient}"}, 201,
			"patient.portal_invite allow", "auth.invitation.send"),
		c(asOther, "POST", "/api/v1/workspaces/{ws-other}/invitations", map[string]string{"kind": "patient", "email": "x@example.org", "role": "patient", "patient_id": "{patient}"}, 404,
			"patient.portal_invite deny")),

	// Notices and the development outbox.
	public("GET /privacy", whyNotice), public("GET /notices/accept", whyNotice), public("POST /notices/accept", whyNotice),
	public("GET /admin/notices", whyNotice), public("POST /admin/notices", whyNotice), public("POST /admin/processors", whyNotice),
	public("POST /admin/processors/{id}/retire", whyNotice), public("GET /api/v1/notices/current", whyNotice),
	public("POST /api/v1/notices/{id}/accept", whyNotice),
	public("GET /privacy/versions/{id}", whyNotice), public("POST /api/v1/notices", whyNotice),
	public("GET /dev/outbox", "development mail outbox, served only without SMTP, outside production and to loopback clients; holds links, no records"),
	public("GET /dev/outbox/{name}", "development mail outbox, served only without SMTP, outside production and to loopback clients; holds links, no records"),

	// News to patients and the unsubscribe links (outreach).
	public("GET /workspace/news", whyNews), public("POST /workspace/news", whyNews), public("GET /workspace/news/{id}", whyNews),
	public("POST /workspace/news/{id}/send", whyNews), public("GET /workspace/news/{id}/progress", whyNews),
	public("GET /unsubscribe/{token}", whyUnsubscribe), public("POST /unsubscribe/{token}", whyUnsubscribe),

	// Platform.
	public("GET /static/", whyPlatform), public("GET /healthz", whyPlatform), public("GET /readyz", whyPlatform),
	public("GET /api/v1/openapi.json", whyPlatform),
	public("/api/", whyPlatform), public("/", whyPlatform),
	public("GET /test/media", "registered only in test builds by media_test.go: a viewer harness page with no data"),
	public("GET /patients/new", whyEmptyForm), public("GET /access/matrix", whyEmptyForm),
	public("GET /api/v1/consent/purposes", "the consent purposes and their published texts: no patient data"),

	// Patients (API).
	phi("GET /api/v1/patients", c(asDoc, "GET", "/api/v1/patients", nil, 200, "patient.list allow", "patient.list allow"), c(asPatient, "GET", "/api/v1/patients", nil, 404, "patient.list deny")),
	phi("POST /api/v1/patients",
		c(asDoc, "POST", "/api/v1/patients", map[string]any{"given_name": "Carla", "family_name": coverCanary, "birth_date": "1990-01-02"}, 201, "patient.create allow"),
		c(asOfficer, "POST", "/api/v1/patients", map[string]any{"given_name": "Carla", "family_name": coverCanary, "birth_date": "1990-01-02"}, 403, "patient.create deny")),
	phi("POST /api/v1/patients/search",
		c(asDoc, "POST", "/api/v1/patients/search", map[string]string{"name": coverCanary}, 200, "patient.search allow", "patient.search allow", "patient.search allow"),
		c(asPatient, "POST", "/api/v1/patients/search", map[string]string{"name": coverCanary}, 404, "patient.search deny")),
	phi("GET /api/v1/patients/{id}", c(asDoc, "GET", "/api/v1/patients/{patient}", nil, 200, "patient.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}", nil, 404, "patient.read deny")),
	phi("PUT /api/v1/patients/{id}",
		c(asDoc, "PUT", "/api/v1/patients/{patient}", `{"version":1,"profile":{"given_name":"Anna","family_name":"`+coverCanary+`","birth_date":"1980-04-12","email":"anna@example.org","phone":"+44 20 7946 0000"}}`, 200, "patient.update allow"),
		c(asOther, "PUT", "/api/v1/patients/{patient}", `{"version":2,"profile":{"given_name":"X","family_name":"Y","birth_date":"1980-04-12"}}`, 404, "patient.update deny")),
	phi("GET /api/v1/patients/{id}/summary", c(asER, "GET", "/api/v1/patients/{patient}/summary", nil, 200, "patient.read_summary allow"), c(asOther, "GET", "/api/v1/patients/{patient}/summary", nil, 404, "patient.read_summary deny")),
	phi("GET /api/v1/patients/{id}/care-team", c(asDoc, "GET", "/api/v1/patients/{patient}/care-team", nil, 200, "careteam.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/care-team", nil, 404, "careteam.read deny")),
	phi("POST /api/v1/patients/{id}/care-team",
		c(asDoc, "POST", "/api/v1/patients/{patient}/care-team", map[string]string{"user_id": "{user}"}, 204, "careteam.add allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/care-team", map[string]string{"user_id": "{user}"}, 404, "careteam.add deny")),
	phi("DELETE /api/v1/patients/{id}/care-team/{userID}",
		c(asOther, "DELETE", "/api/v1/patients/{patient}/care-team/{user}", nil, 404, "careteam.remove deny"),
		c(asAdmin, "DELETE", "/api/v1/patients/{patient}/care-team/{user}", nil, 204, "careteam.remove allow"),
		c(asAdmin, "DELETE", "/api/v1/patients/{patient}/care-team/{user}", nil, 422, "careteam.remove allow", "careteam.remove allow failed")),
	phi("POST /api/v1/patients/{id}/representatives",
		c(asDoc, "POST", "/api/v1/patients/{patient}/representatives", map[string]string{"relationship": "parent", "name": "Mum " + coverCanary, "email": "mum@example.org"}, 201, "patient.representative_add allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/representatives", map[string]string{"relationship": "parent", "name": "X", "email": "x@example.org"}, 404, "patient.representative_add deny")),
	phi("GET /api/v1/patients/{id}/representatives",
		c(asDoc, "GET", "/api/v1/patients/{patient}/representatives", nil, 200, "patient.representative_read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/representatives", nil, 404, "patient.representative_read deny")),
	phi("POST /api/v1/patients/{id}/portal-invitations",
		c(asDoc, "POST", "/api/v1/patients/{patient}/portal-invitations", nil, 202, "patient.portal_invite allow", "auth.invitation.send"), c(asOther, "POST", "/api/v1/patients/{patient}/portal-invitations", nil, 404, "patient.portal_invite deny")),
	phi("POST /api/v1/patients/{id}/break-glass",
		c(asER, "POST", "/api/v1/patients/{patient}/break-glass", map[string]string{"reason_code": "emergency", "reason": "Collapsed at reception", "password": app.DemoPassword}, 201, "auth.reauth", "breakglass.open allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/break-glass", map[string]string{"reason_code": "emergency", "reason": "Collapsed at reception"}, 404, "breakglass.open deny")),
	phi("GET /api/v1/patients/{id}/cases", c(asDoc, "GET", "/api/v1/patients/{patient}/cases", nil, 200, "case.list allow"), c(asOther, "GET", "/api/v1/patients/{patient}/cases", nil, 404, "case.list deny")),
	phi("POST /api/v1/patients/{id}/cases",
		c(asDoc, "POST", "/api/v1/patients/{patient}/cases", map[string]string{"title": "Revision", "date": "2026-05-01"}, 201, "case.create allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/cases", map[string]string{"title": "x"}, 404, "case.create deny")),
	phi("GET /api/v1/cases/{id}", c(asDoc, "GET", "/api/v1/cases/{case}", nil, 200, "case.read allow"), c(asOther, "GET", "/api/v1/cases/{case}", nil, 404, "case.read deny")),
	phi("PATCH /api/v1/cases/{id}",
		c(asDoc, "PATCH", "/api/v1/cases/{case}", map[string]any{"version": 1, "notes": "Edited " + coverCanary}, 200, "case.update allow"),
		c(asOther, "PATCH", "/api/v1/cases/{case}", map[string]any{"version": 2, "notes": "x"}, 404, "case.update deny")),
	phi("GET /api/v1/cases/{id}/revisions", c(asDoc, "GET", "/api/v1/cases/{case}/revisions", nil, 200, "case.revisions allow"), c(asOther, "GET", "/api/v1/cases/{case}/revisions", nil, 404, "case.revisions deny")),
	phi("POST /api/v1/cases/{id}/comments",
		c(asDoc, "POST", "/api/v1/cases/{case}/comments", map[string]string{"text": "Agree " + coverCanary}, 201, "case.comment allow"),
		c(asOther, "POST", "/api/v1/cases/{case}/comments", map[string]string{"text": "hi"}, 404, "case.comment deny")),
	phi("PUT /api/v1/cases/{id}/comments/{commentID}",
		c(asDoc, "PUT", "/api/v1/cases/{case}/comments/{comment}", map[string]string{"text": "Edited " + coverCanary}, 200, "case.comment_edit allow"),
		c(asOther, "PUT", "/api/v1/cases/{case}/comments/{comment}", map[string]string{"text": "mine"}, 404, "case.comment_edit deny")),
	phi("POST /api/v1/cases/{id}/collaborators",
		c(asDoc, "POST", "/api/v1/cases/{case}/collaborators", map[string]string{"user_id": "5e00000000000000000000000000000c"}, 204, "case.collaborator_add allow"),
		c(asOther, "POST", "/api/v1/cases/{case}/collaborators", map[string]string{"user_id": "5e00000000000000000000000000000f"}, 404, "case.collaborator_add deny")),
	phi("DELETE /api/v1/cases/{id}/collaborators/{userID}",
		c(asDoc, "DELETE", "/api/v1/cases/{case}/collaborators/5e00000000000000000000000000000c", nil, 204, "case.collaborator_remove allow"),
		c(asDoc, "DELETE", "/api/v1/cases/{case}/collaborators/5e00000000000000000000000000000c", nil, 422, "case.collaborator_remove allow", "case.collaborator_remove allow failed"),
		c(asOther, "DELETE", "/api/v1/cases/{case}/collaborators/5e00000000000000000000000000000c", nil, 404, "case.collaborator_remove deny")),
	phi("PUT /api/v1/cases/{id}/sharing",
		c(asDoc, "PUT", "/api/v1/cases/{case}/sharing", map[string]bool{"shared": true, "notes_shared": true}, 204, "case.share allow"),
		c(asOther, "PUT", "/api/v1/cases/{case}/sharing", map[string]bool{"shared": false}, 404, "case.share deny")),
	phi("GET /api/v1/break-glass/reviews", c(asOfficer, "GET", "/api/v1/break-glass/reviews", nil, 200, "breakglass.review_list allow", "breakglass.review_read allow", "breakglass.review_read allow"), c(asDoc, "GET", "/api/v1/break-glass/reviews", nil, 404, "breakglass.review_list deny")),
	phi("POST /api/v1/break-glass/reviews/{id}",
		c(asDoc, "POST", "/api/v1/break-glass/reviews/{grant}", map[string]string{"notes": "x"}, 404, "breakglass.review deny"),
		c(asOfficer, "POST", "/api/v1/break-glass/reviews/{grant}", map[string]string{"notes": "Checked"}, 204, "breakglass.review allow")),
	phi("POST /api/v1/break-glass/changes/{id}",
		c(asDoc, "POST", "/api/v1/break-glass/changes/{change}", map[string]string{"decision": "approve"}, 403, "careteam.change_approve deny"),
		c(asER, "POST", "/api/v1/break-glass/changes/{change}", map[string]string{"decision": "approve"}, 403, "careteam.change_approve deny"),
		c(asOfficer, "POST", "/api/v1/break-glass/changes/{change}", map[string]string{"decision": "reject"}, 204, "careteam.change_reject allow")),
	phi("GET /api/v1/me/patient", c(asPatient, "GET", "/api/v1/me/patient", nil, 200, "patient.read allow")),
	phi("GET /api/v1/me/cases", c(asPatient, "GET", "/api/v1/me/cases", nil, 200, "case.list allow")),

	// Patients (pages).
	phi("GET /patients", c(asDoc, "GET", "/patients", nil, 200, "patient.list allow", "patient.list allow", "patient.list allow"), c(asPatient, "GET", "/patients", nil, 404, "patient.list deny")),
	phi("POST /patients/search", c(asDoc, "POST", "/patients/search", coverForm("name", coverCanary), 200, "patient.search allow", "patient.search allow", "patient.search allow"), c(asPatient, "POST", "/patients/search", coverForm("name", coverCanary), 404, "patient.search deny")),
	phi("POST /patients",
		c(asDoc, "POST", "/patients", coverForm("given_name", "Dora", "family_name", coverCanary, "birth_date", "1990-01-02", "height_cm", "170"), 303, "patient.create allow"),
		c(asOfficer, "POST", "/patients", coverForm("given_name", "Dora", "family_name", coverCanary, "birth_date", "1990-01-02"), 403, "patient.create deny")),
	phi("GET /patients/{id}", c(asDoc, "GET", "/patients/{patient}", nil, 200, "patient.read allow", "careteam.read allow", "case.list allow"), c(asOther, "GET", "/patients/{patient}", nil, 404, "patient.read_summary deny")),
	phi("GET /patients/{id}/edit", c(asDoc, "GET", "/patients/{patient}/edit", nil, 200, "patient.read allow"), c(asOther, "GET", "/patients/{patient}/edit", nil, 404, "patient.read deny")),
	phi("POST /patients/{id}/edit",
		c(asDoc, "POST", "/patients/{patient}/edit", coverForm("version", "2", "given_name", "Anna", "family_name", coverCanary, "birth_date", "1980-04-12", "email", "anna@example.org"), 303, "patient.update allow"),
		c(asOther, "POST", "/patients/{patient}/edit", coverForm("version", "3", "given_name", "X", "family_name", "Y", "birth_date", "1980-04-12"), 404, "patient.update deny")),
	phi("POST /patients/{id}/care-team",
		c(asDoc, "POST", "/patients/{patient}/care-team", coverForm("user_id", "{user}"), 303, "careteam.add allow"),
		c(asOther, "POST", "/patients/{patient}/care-team", coverForm("user_id", "{user}"), 404, "careteam.add deny")),
	// The front desk invites a patient to the portal from the patient page.
	phi("POST /patients/{id}/portal-invitation",
		c(asStaff, "POST", "/patients/{patient}/portal-invitation", nil, 200, "patient.portal_invite allow", "auth.invitation.send", "patient.read allow", "careteam.read allow", "case.list deny"),
		c(asOther, "POST", "/patients/{patient}/portal-invitation", nil, 404, "patient.portal_invite deny")),
	phi("POST /patients/{id}/break-glass",
		c(asER, "POST", "/patients/{patient}/break-glass", coverForm("reason_code", "emergency", "reason", "Unconscious in the ER", "password", app.DemoPassword), 200, "auth.reauth", "breakglass.open allow", "patient.read allow", "careteam.read allow", "case.list allow"),
		c(asOther, "POST", "/patients/{patient}/break-glass", coverForm("reason_code", "emergency", "reason", "Unconscious in the ER"), 404, "breakglass.open deny")),
	phi("POST /patients/{id}/cases",
		c(asDoc, "POST", "/patients/{patient}/cases", coverForm("title", "Follow-up", "date", "2026-06-01"), 303, "case.create allow"),
		c(asOther, "POST", "/patients/{patient}/cases", coverForm("title", "x"), 404, "case.create deny")),
	phi("GET /cases/{id}", c(asDoc, "GET", "/cases/{case}", nil, 200, "case.read allow", "patient.read_summary allow", "file.list allow"),
		c(asPatient, "GET", "/cases/{case}", nil, 200, "case.read allow", "file.list allow"), c(asOther, "GET", "/cases/{case}", nil, 404, "case.read deny")),
	phi("GET /files/{id}/view", c(asDoc, "GET", "/files/{dicom}/view", nil, 200, "file.view allow"), c(asOther, "GET", "/files/{dicom}/view", nil, 404, "file.view deny")),
	phi("POST /cases/{id}/edit",
		c(asDoc, "POST", "/cases/{case}/edit", coverForm("version", "2", "title", "Rhinoplasty", "status", "open", "notes", "Page note "+coverCanary), 303, "case.update allow"),
		c(asOther, "POST", "/cases/{case}/edit", coverForm("version", "3", "title", "x", "status", "open"), 404, "case.update deny")),
	phi("GET /cases/{id}/history", c(asDoc, "GET", "/cases/{case}/history", nil, 200, "case.revisions allow"), c(asOther, "GET", "/cases/{case}/history", nil, 404, "case.revisions deny")),
	phi("POST /cases/{id}/comments",
		c(asDoc, "POST", "/cases/{case}/comments", coverForm("text", "Page comment "+coverCanary), 303, "case.comment allow"),
		c(asOther, "POST", "/cases/{case}/comments", coverForm("text", "hi"), 404, "case.comment deny")),
	phi("POST /cases/{id}/collaborators",
		c(asDoc, "POST", "/cases/{case}/collaborators", coverForm("user_id", "5e00000000000000000000000000000e"), 303, "case.collaborator_add allow"),
		c(asOther, "POST", "/cases/{case}/collaborators", coverForm("user_id", "5e00000000000000000000000000000d"), 404, "case.collaborator_add deny")),
	phi("POST /cases/{id}/sharing",
		c(asDoc, "POST", "/cases/{case}/sharing", coverForm("shared", "on"), 303, "case.share allow"),
		c(asOther, "POST", "/cases/{case}/sharing", coverForm("shared", "on"), 404, "case.share deny")),
	phi("GET /me", c(asPatient, "GET", "/me", nil, 200, "patient.read allow", "case.list allow")),
	phi("GET /privacy/break-glass", c(asOfficer, "GET", "/privacy/break-glass", nil, 200, "breakglass.review_list allow", "breakglass.review_read allow", "breakglass.review_read allow", "breakglass.review_read allow"), c(asDoc, "GET", "/privacy/break-glass", nil, 404, "breakglass.review_list deny")),
	// Who has been given the privacy notice: names members and patients with portal accounts.
	phi("GET /privacy/notice-delivery", c(asOfficer, "GET", "/privacy/notice-delivery", nil, 200, "notice.delivery_read allow"),
		c(asDoc, "GET", "/privacy/notice-delivery", nil, 403, "notice.delivery_read deny")),
	phi("POST /privacy/notice-delivery/record",
		c(asDoc, "POST", "/privacy/notice-delivery/record", coverForm("notice", "nv_none", "user", "u_none", "method", "post"), 403, "notice.delivery_record deny"),
		c(asOfficer, "POST", "/privacy/notice-delivery/record", coverForm("notice", "nv_none", "user", "u_none", "method", "post"), 404).unaudited("no such notice version: nothing is read or changed")),
	phi("POST /privacy/break-glass/changes/{id}",
		c(asDoc, "POST", "/privacy/break-glass/changes/{change-page}", coverForm("decision", "approve"), 403, "careteam.change_approve deny"),
		c(asOfficer, "POST", "/privacy/break-glass/changes/{change-page}", coverForm("decision", "approve"), 303, "careteam.change_approve allow")),
	phi("POST /privacy/break-glass/{id}",
		c(asDoc, "POST", "/privacy/break-glass/{grant}", coverForm("notes", "x"), 404, "breakglass.review deny"),
		c(asOfficer, "POST", "/privacy/break-glass/{grant}", coverForm("notes", "again"), 422, "breakglass.review allow", "breakglass.review allow failed", "breakglass.review_list allow", "breakglass.review_read allow", "breakglass.review_read allow", "breakglass.review_read allow")),

	// Imaging and models.
	phi("POST /api/v1/uploads",
		c(asDoc, "POST", "/api/v1/uploads", `{"case_id":"{case}","size":100}`, 201, "file.upload allow"),
		c(asOther, "POST", "/api/v1/uploads", `{"case_id":"{case}","size":100}`, 404, "file.upload deny")),
	phi("POST /api/v1/cases/{id}/files",
		coverCall{As: asDoc, Method: "POST", Path: "/api/v1/cases/{case}/files", Body: coverUploadChunk, Status: 201, Entries: []string{"file.upload allow"}},
		coverCall{As: asOther, Method: "POST", Path: "/api/v1/cases/{case}/files", Body: coverUploadChunk, Status: 404, Entries: []string{"file.upload deny"}}),
	phi("GET /api/v1/uploads/{id}", c(asDoc, "GET", "/api/v1/uploads/{upload}", nil, 200).unaudited(whyUploadStatus), c(asOther, "GET", "/api/v1/uploads/{upload}", nil, 404).unaudited(whyUploadSession)),
	phi("PUT /api/v1/uploads/{id}",
		coverCall{As: asOther, Method: "PUT", Path: "/api/v1/uploads/{upload}", Body: coverUploadChunk,
			Header: map[string]string{"Content-Range": fmt.Sprintf("bytes 0-%d/%d", len(coverUploadChunk)-1, len(coverUploadChunk))},
			Status: 404, Unaudited: whyUploadSession},
		coverCall{As: asDoc, Method: "PUT", Path: "/api/v1/uploads/{upload}", Body: coverUploadChunk,
			Header: map[string]string{"Content-Range": fmt.Sprintf("bytes 0-%d/%d", len(coverUploadChunk)-1, len(coverUploadChunk))},
			Status: 200, Unaudited: whyUploadChunk}),
	phi("POST /api/v1/uploads/{id}/complete",
		c(asOther, "POST", "/api/v1/uploads/{upload}/complete", nil, 404).unaudited(whyUploadSession), c(asDoc, "POST", "/api/v1/uploads/{upload}/complete", nil, 201, "file.upload allow")),
	phi("GET /api/v1/cases/{id}/files", c(asDoc, "GET", "/api/v1/cases/{case}/files", nil, 200, "file.list allow"),
		c(asOther, "GET", "/api/v1/cases/{case}/files", nil, 404, "file.list deny")),
	phi("GET /api/v1/files/{id}/meta", c(asDoc, "GET", "/api/v1/files/{file}/meta", nil, 200, "file.view allow"), c(asOther, "GET", "/api/v1/files/{file}/meta", nil, 404, "file.view deny")),
	phi("GET /api/v1/files/{id}/view", c(asDoc, "GET", "/api/v1/files/{file}/view", nil, 200, "file.view allow"), c(asOther, "GET", "/api/v1/files/{file}/view", nil, 404, "file.view deny")),
	phi("GET /api/v1/files/{id}/render", c(asDoc, "GET", "/api/v1/files/{dicom}/render", nil, 200, "file.view allow"), c(asOther, "GET", "/api/v1/files/{dicom}/render", nil, 404, "file.view deny")),
	phi("GET /api/v1/files/{id}/thumbnail", c(asDoc, "GET", "/api/v1/files/{dicom}/thumbnail", nil, 200, "file.view allow"), c(asOther, "GET", "/api/v1/files/{dicom}/thumbnail", nil, 404, "file.view deny")),
	phi("GET /api/v1/files/{id}/series", c(asDoc, "GET", "/api/v1/files/{dicom}/series", nil, 200, "file.view_series allow"), c(asOther, "GET", "/api/v1/files/{dicom}/series", nil, 404, "file.view_series deny")),
	phi("GET /api/v1/series/{grant}/images/{n}",
		c(asDoc, "GET", "/api/v1/series/{series}/images/1", nil, 200).unaudited(whySeriesImage),
		c(asOther, "GET", "/api/v1/series/{series}/images/0", nil, 404).unaudited(whySeriesGrant)),
	phi("GET /api/v1/files/{id}/download", c(asDoc, "GET", "/api/v1/files/{file}/download", nil, 200, "file.download allow"), c(asOther, "GET", "/api/v1/files/{file}/download", nil, 404, "file.download deny")),

	// Rehabilitation.
	phi("POST /api/v1/patients/{id}/rehab/ingest",
		c(asDoc, "POST", "/api/v1/patients/{patient}/rehab/ingest", string(rehabtest.Batch(rehabtest.BatchSpec{Prefix: "walk", Sessions: 1, Exercises: 1, Start: time.Now().AddDate(0, 0, -3)})), 200, "rehab.ingest allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/rehab/ingest", string(rehabtest.Batch(rehabtest.BatchSpec{Prefix: "evil", Sessions: 1, Exercises: 1, Start: time.Now().AddDate(0, 0, -3)})), 404, "rehab.ingest deny")),
	phi("GET /api/v1/patients/{id}/rehab/sessions", c(asDoc, "GET", "/api/v1/patients/{patient}/rehab/sessions", nil, 200, "rehab.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/rehab/sessions", nil, 404, "rehab.read deny")),
	phi("GET /api/v1/patients/{id}/rehab/calibrations", c(asDoc, "GET", "/api/v1/patients/{patient}/rehab/calibrations", nil, 200, "rehab.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/rehab/calibrations", nil, 404, "rehab.read deny")),
	phi("GET /api/v1/patients/{id}/rehab/progress", c(asDoc, "GET", "/api/v1/patients/{patient}/rehab/progress", nil, 200, "rehab.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/rehab/progress", nil, 404, "rehab.read deny")),
	phi("POST /api/v1/patients/{id}/rehab/programme",
		c(asDoc, "POST", "/api/v1/patients/{patient}/rehab/programme", `{"name":"Hand and wrist","exercises":[{"type":"wrist_flexion","level":2,"side":"left","frequency_per_week":5}]}`, 201, "rehab.plan allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/rehab/programme", `{"name":"x","exercises":[]}`, 404, "rehab.plan deny")),
	phi("POST /patients/{id}/rehab/programme",
		c(asDoc, "POST", "/patients/{patient}/rehab/programme", coverForm("name", "Hand and wrist", "type", "wrist_flexion", "side", "left", "level", "2", "frequency", "5"), 303, "rehab.plan allow"),
		c(asOther, "POST", "/patients/{patient}/rehab/programme", coverForm("name", "x", "type", "wrist_flexion", "side", "left", "level", "2", "frequency", "5"), 404, "rehab.plan deny")),
	phi("GET /api/v1/patients/{id}/rehab/programme", c(asDoc, "GET", "/api/v1/patients/{patient}/rehab/programme", nil, 200, "rehab.read allow"), c(asOther, "GET", "/api/v1/patients/{patient}/rehab/programme", nil, 404, "rehab.read deny")),
	phi("GET /patients/{id}/rehab", c(asDoc, "GET", "/patients/{patient}/rehab", nil, 200, "rehab.read allow", "patient.read_summary allow"), c(asOther, "GET", "/patients/{patient}/rehab", nil, 404, "rehab.read deny")),
	phi("GET /patients/{id}/rehab/progress.csv", c(asDoc, "GET", "/patients/{patient}/rehab/progress.csv", nil, 200, "rehab.read allow"), c(asOther, "GET", "/patients/{patient}/rehab/progress.csv", nil, 404, "rehab.read deny")),
	// A therapist invites the adult patient: rehab decides, the records decide
	// the invitation, then check the age (the receipt goes to identity).
	phi("POST /patients/{id}/rehab/invite",
		c(asDoc, "POST", "/patients/{patient}/rehab/invite", coverForm("email", "anna.rehab@example.org"), 303,
			"rehab.plan allow", "patient.portal_invite allow", "patient.age_check allow", "auth.invitation.send"),
		c(asOther, "POST", "/patients/{patient}/rehab/invite", coverForm("email", "x@example.org"), 404, "rehab.plan deny")),
	phi("GET /my/progress", c(asPatient, "GET", "/my/progress", nil, 200, "rehab.read allow")),
	phi("GET /my/progress.csv", c(asPatient, "GET", "/my/progress.csv", nil, 200, "rehab.read allow")),

	// Consent.
	phi("GET /api/v1/patients/{id}/consents", c(asDoc, "GET", "/api/v1/patients/{patient}/consents", nil, 200, "consent.read allow", "patient.age_check allow"), c(asOther, "GET", "/api/v1/patients/{patient}/consents", nil, 404, "consent.read deny")),
	// Staff may only record paper forms, which the API does not take: the
	// other clinician's request fails validation before any decision.
	phi("POST /api/v1/patients/{id}/consents",
		c(asPatient, "POST", "/api/v1/patients/{patient}/consents", `{"purpose":"sms","action":"grant"}`, 201, "patient.age_check allow", "consent.grant allow"),
		c(asOther, "POST", "/api/v1/patients/{patient}/consents", `{"purpose":"sms","action":"grant"}`, 422)),
	phi("GET /patients/{id}/consents", c(asPatient, "GET", "/patients/{patient}/consents", nil, 200, "consent.read allow", "patient.age_check allow"), c(asOther, "GET", "/patients/{patient}/consents", nil, 404, "consent.read deny")),
	phi("POST /patients/{id}/consents",
		c(asPatient, "POST", "/patients/{patient}/consents", coverForm("purpose", "sms", "action", "withdraw", "confirm", "yes"), 303, "patient.age_check allow", "consent.withdraw allow"),
		c(asOther, "POST", "/patients/{patient}/consents", coverForm("purpose", "sms", "action", "grant"), 404, "consent.read deny")),
	phi("GET /patients/{id}/consents/paper", c(asDoc, "GET", "/patients/{patient}/consents/paper", nil, 200, "consent.read allow", "patient.age_check allow", "patient.representative_read allow", "patient.read_summary allow"), c(asOther, "GET", "/patients/{patient}/consents/paper", nil, 404, "consent.read deny")),
	phi("POST /patients/{id}/consents/paper", paperForm(asDoc, 303, "patient.age_check allow", "consent.grant allow"), paperForm(asOther, 404, "consent.grant deny")),
	phi("GET /patients/{id}/consents/{event}/form",
		c(asDoc, "GET", "/patients/{patient}/consents/{consent}/form", nil, 200, "consent.read allow"), c(asOther, "GET", "/patients/{patient}/consents/{consent}/form", nil, 404, "consent.read deny")),

	// Patients' own captures and their connections to doctors. The walk
	// connects the patient to a second doctor and revokes that connection
	// at the end, so the seeded connection to the care-team doctor stands.
	phi("GET /api/v1/me/captures", c(asPatient, "GET", "/api/v1/me/captures", nil, 200, "capture.list allow"), c(asDoc, "GET", "/api/v1/me/captures", nil, 404, "capture.list deny")),
	phi("POST /api/v1/me/captures", c(asPatient, "POST", "/api/v1/me/captures", mediatest.BinarySTL(8), 201, "capture.upload allow"),
		c(asDoc, "POST", "/api/v1/me/captures", mediatest.BinarySTL(8), 404, "capture.upload deny")),
	phi("GET /api/v1/me/connections", c(asPatient, "GET", "/api/v1/me/connections", nil, 200, "capture.connections allow"),
		c(asDoc, "GET", "/api/v1/me/connections", nil, 403).unaudited(whyNotAPatient)),
	phi("POST /me/connections", c(asPatient, "POST", "/me/connections", coverForm("email", "er@a.example"), 303, "capture.connect allow"),
		c(asDoc, "POST", "/me/connections", coverForm("email", "er@a.example"), 403).unaudited(whyNotAPatient)),
	phi("POST /api/v1/me/connections",
		c(asPatient, "POST", "/api/v1/me/connections", map[string]string{"email": "er@a.example"}, 201).unaudited("already connected to this doctor: the existing connection is returned and nothing changes"),
		c(asDoc, "POST", "/api/v1/me/connections", map[string]string{"email": "er@a.example"}, 403).unaudited(whyNotAPatient)),
	phi("GET /api/v1/patients/{id}/captures", c(asDoc, "GET", "/api/v1/patients/{patient}/captures", nil, 200, "capture.list allow"), c(asOther, "GET", "/api/v1/patients/{patient}/captures", nil, 404, "capture.list deny")),
	phi("GET /api/v1/captures/{id}/view", c(asDoc, "GET", "/api/v1/captures/{capture}/view", nil, 200, "capture.view allow"), c(asOther, "GET", "/api/v1/captures/{capture}/view", nil, 404, "capture.view deny")),
	phi("POST /api/v1/captures/{id}/attach", c(asDoc, "POST", "/api/v1/captures/{capture}/attach", map[string]string{"case_id": "{case}"}, 201, "capture.attach allow"),
		c(asOther, "POST", "/api/v1/captures/{capture}/attach", map[string]string{"case_id": "{case}"}, 404, "capture.attach deny")),
	phi("GET /me/captures", c(asPatient, "GET", "/me/captures", nil, 200, "capture.list allow", "capture.connections allow"), c(asDoc, "GET", "/me/captures", nil, 404, "capture.list deny")),
	phi("POST /me/captures", captureForm(asPatient, 303, "capture.upload allow"), captureForm(asDoc, 404, "capture.upload deny")),
	phi("GET /patients/{id}/captures", c(asDoc, "GET", "/patients/{patient}/captures", nil, 200, "capture.list allow", "case.list allow"), c(asOther, "GET", "/patients/{patient}/captures", nil, 404, "capture.list deny")),
	phi("POST /captures/{id}/attach", c(asDoc, "POST", "/captures/{capture}/attach", coverForm("case_id", "{case}"), 303, "capture.attach allow"),
		c(asOther, "POST", "/captures/{capture}/attach", coverForm("case_id", "{case}"), 404, "capture.attach deny")),
	// Revoking last: the care-team doctor loses the patient's captures (the
	// capture tests prove the views that follow are refused and audited).
	phi("POST /me/connections/{id}/revoke", c(asDoc, "POST", "/me/connections/{connection}/revoke", nil, 403).unaudited(whyNotAPatient),
		c(asPatient, "POST", "/me/connections/{connection}/revoke", nil, 303, "capture.revoke allow")),
	phi("DELETE /api/v1/me/connections/{id}", c(asDoc, "DELETE", "/api/v1/me/connections/{connection}", nil, 403).unaudited(whyNotAPatient),
		c(asPatient, "DELETE", "/api/v1/me/connections/{connection}", nil, 404).unaudited("the connection is no longer open: nothing is read or changed")),

	// Landing pages: each role's work, its names read under the policy.
	// The clinician's: the patients list (request and rows), the recent
	// cases (one case.recent each) and the files of the three newest.
	phi("GET /{$}", c(asDoc, "GET", "/", nil, 200, "patient.list allow", "patient.list allow", "patient.list allow", "patient.list allow",
		"case.recent allow", "case.recent allow", "case.recent allow", "file.list allow", "file.list allow", "file.list allow"),
		c(asOfficer, "GET", "/", nil, 200, "breakglass.review_list allow", "breakglass.review_read allow", "breakglass.review_read allow",
			"breakglass.review_read allow", "patient.read_summary allow"),
		c(asPatient, "GET", "/", nil, 200, "patient.read allow", "case.list allow", "consent.read allow", "patient.age_check allow"),
		c(asAdmin, "GET", "/", nil, 200).unaudited("the admin's landing page shows staff and settings, no patient data")),

	// Access history and the audit log (last: they read what the walk wrote).
	phi("GET /api/v1/me/access-history", c(asPatient, "GET", "/api/v1/me/access-history", nil, 200, "audit.read allow")),
	// The page names the patient's cases a file or case line is about: the
	// patient's own case list, audited.
	phi("GET /me/access-history", c(asPatient, "GET", "/me/access-history", nil, 200, "audit.read allow", "case.list allow")),
	phi("GET /api/v1/audit", c(asOfficer, "GET", "/api/v1/audit?patient={patient}", nil, 200, "audit.read allow"), c(asDoc, "GET", "/api/v1/audit?patient={patient}", nil, 403, "audit.read deny")),
	// The page and the export name the patients of their entries: one
	// audited summary read per patient named (the walk's log holds three;
	// since the landing page names the clinician's patients, the page's
	// newest entries name all three too).
	phi("GET /privacy/audit", c(asOfficer, "GET", "/privacy/audit", nil, 200, "audit.read allow",
		"audit.patient_names allow", "audit.patient_names allow", "audit.patient_names allow"),
		c(asDoc, "GET", "/privacy/audit", nil, 403, "audit.read deny")),
	phi("GET /privacy/audit.csv", c(asOfficer, "GET", "/privacy/audit.csv", nil, 200, "audit.export allow",
		"audit.patient_names allow", "audit.patient_names allow", "audit.patient_names allow"),
		c(asDoc, "GET", "/privacy/audit.csv", nil, 403, "audit.export deny")),
	// Finding a person by name or email: the patient search is audited by
	// the patient service (one entry for the search, one per patient
	// shown), then the search itself; the terms go in the body only.
	phi("POST /privacy/audit/find", c(asOfficer, "POST", "/privacy/audit/find", coverForm("who", "nobody-matches"), 200,
		"patient.search allow", "audit.person_search allow"),
		c(asDoc, "POST", "/privacy/audit/find", coverForm("who", "x"), 403, "audit.person_search deny")),
}
