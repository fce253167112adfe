package app

import (
	"context"
	"log/slog"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/web"
)

// records builds the patient and case services on the app's audit log.
func (a *App) records(log *slog.Logger) *web.Records {
	cfg := patient.Config{DB: a.DB, Keys: a.Keys, Audit: a.Audit, Log: log}
	if a.Identity != nil {
		cfg.Inviter = portalInviter{a.Identity}
	}
	a.Patients = patient.New(cfg)
	a.Cases = casefile.New(a.DB, a.Patients, nil)
	return &web.Records{Patients: a.Patients, Cases: a.Cases}
}

// portalInviter sends patient portal invitations through identity.
type portalInviter struct{ id *identity.Service }

func (p portalInviter) InvitePatient(ctx context.Context, pr *access.Principal, inv patient.PortalInvitation) error {
	role := access.RolePatient
	if inv.Relationship == "representative" {
		role = access.RoleRepresentative
	}
	_, err := p.id.Invite(ctx, pr, inv.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: inv.Email, Role: role, PatientID: inv.PatientID},
		identity.Meta{ClientAddr: pr.ClientAddr, RequestID: pr.RequestID})
	return err
}
