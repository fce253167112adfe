package audit

import "github.com/custodia-health/custodia/internal/access"

// Decided is the entry recording policy decision d on p's request to act
// on resource r (resType and resID name what was asked for; action is the
// entry's action), for the purpose given: ids and codes only. A denial is
// recorded with outcome "denied".
func Decided(p *access.Principal, d access.Decision, purpose, action string, r access.Resource, resType, resID string) Event {
	ev := Event{ActorRole: string(p.Role), ActorUserID: p.UserID, ActorTokenID: p.TokenID, WorkspaceID: r.WorkspaceID,
		OnBehalfOf: p.OnBehalfOf, Action: action, ResourceType: resType, ResourceID: resID, PatientID: r.PatientID,
		Purpose: purpose, Decision: "allow", Reason: string(d.Reason), BreakGlass: d.BreakGlass,
		ClientAddr: p.ClientAddr, RequestID: p.RequestID, Outcome: "success"}
	if !d.Allow {
		ev.Decision, ev.Outcome = "deny", "denied"
	}
	return ev
}
