package web

import (
	"strings"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/patient"
)

// refusalMessage says in words why the policy refused and what to do next,
// from the decision's reason and the viewer's roles. It names roles and
// relationships only, never the record, so it holds no PHI.
func refusalMessage(p *access.Principal, e *patient.DeniedError) string {
	switch e.Reason {
	case access.DenyNotCareTeam:
		return "You are not on this patient's care team, so their record is closed to you. " +
			"Ask a clinician on the care team or an admin of your practice to add you; in an emergency, open emergency access from the patient's page."
	case access.DenyNotCollaborator:
		return "This case has not been shared with you as a collaborator. Ask the patient's clinician to invite you to the case."
	case access.DenyNotShared:
		return "Your clinician has not shared this with you. Ask them if you would like to see it."
	case access.DenyNotUploader:
		return "Only the person who uploaded a file may download the original. You can still view it in the browser."
	case access.DenyNotConnected:
		return "The patient has not connected to you, so their captures are not shared with you. The patient connects to a doctor from their portal."
	case access.DenyOtherWorkspace:
		return "This belongs to another practice. Switch workspace on your account page if you are a member there."
	case access.DenyScope:
		return "The API token used lacks the permission for this. Create a token with the needed permission on your account page."
	case access.DenyGlassNeedsApproval:
		return "Under emergency access a care-team change is only a request: a privacy officer of the practice decides it."
	case access.DenyGlassNoLasting:
		return "Emergency access cannot share this record or invite anyone to it. Ask a clinician on the patient's care team."
	case access.DenyNotSelf:
		return "This is not your record. If you act for someone, ask their clinic to link you as their representative."
	case access.DenyOperator:
		return "Platform operators see no patient data without a scoped, time-limited grant."
	}
	return roleRefusal(p, access.RolesThatMay(e.Action))
}

// roleRefusal says which roles may do this, which the viewer holds, and
// whom to ask.
func roleRefusal(p *access.Principal, need []access.Role) string {
	held := "none"
	if p != nil {
		var names []string
		for _, r := range heldRoles(p) {
			names = append(names, roleLabel(r))
		}
		if len(names) > 0 {
			held = strings.Join(names, ", ")
		}
	}
	if len(need) == 0 {
		return "No role in a workspace may do this here. Your roles: " + held + "."
	}
	var names []string
	for _, r := range need {
		names = append(names, roleLabel(r))
	}
	msg := "This needs the " + names[0] + " role. "
	if len(names) > 1 {
		msg = "This needs one of these roles: " + orList(names) + ". "
	}
	msg += "Your roles in this workspace: " + held + ". "
	if p != nil && p.Has(access.RoleAdmin) {
		return msg + "As an admin you can give yourself or a colleague a role on the Members page."
	}
	return msg + "Ask an admin of your practice if you need it."
}

func heldRoles(p *access.Principal) []access.Role {
	if len(p.Roles) > 0 {
		return p.Roles
	}
	if p.Role != "" {
		return []access.Role{p.Role}
	}
	return nil
}

func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
