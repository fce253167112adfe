package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/web"
)

// records opens the audit log and builds the patient and case services.
// The checkpoint signing key is derived from the key hierarchy, so it needs
// no file of its own and survives master key rotation.
func (a *App) records(ctx context.Context, log *slog.Logger) (*web.Records, error) {
	seed, err := a.Keys.SystemSecret(ctx, "audit-checkpoints")
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	l, err := audit.Open(ctx, a.DB, ed25519.NewKeyFromSeed(seed[:ed25519.SeedSize]), audit.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	a.Audit = l
	cfg := patient.Config{DB: a.DB, Keys: a.Keys, Audit: l, Log: log}
	if a.Identity != nil {
		cfg.Inviter = portalInviter{a.Identity}
	}
	a.Patients = patient.New(cfg)
	a.Cases = casefile.New(a.DB, a.Patients, nil)
	return &web.Records{Patients: a.Patients, Cases: a.Cases}, nil
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
