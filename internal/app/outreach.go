package app

import (
	"context"
	"fmt"

	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/outreach"
)

// outreachService builds the workspace news service: the unsubscribe
// links are signed with a secret of the key hierarchy, so rotating the
// master key leaves links in sent mail working.
func (a *App) outreachService(ctx context.Context) (*outreach.Service, error) {
	key, err := a.Keys.SystemSecret(ctx, "unsubscribe")
	if err != nil {
		return nil, fmt.Errorf("unsubscribe key: %w", err)
	}
	sg, err := outreach.NewSigner(key)
	if err != nil {
		return nil, err
	}
	return outreach.New(a.DB, a.serviceAudit(), a.Consent, outreachDirectory{a}, a.Identity.Mailer(), sg,
		outreach.Options{BaseURL: a.Config.BaseURL, Log: a.Log}), nil
}

// outreachDirectory finds patients' own mailboxes through identity.
type outreachDirectory struct{ a *App }

func (d outreachDirectory) PatientMailboxes(ctx context.Context, ws string) ([]outreach.Recipient, error) {
	ms, err := d.a.Identity.PatientMailboxes(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]outreach.Recipient, 0, len(ms))
	for _, m := range ms {
		out = append(out, toRecipient(m))
	}
	return out, nil
}

func toRecipient(m identity.PatientMailbox) outreach.Recipient {
	return outreach.Recipient{PatientID: m.PatientID, Name: m.Name, Email: m.Email}
}

func (d outreachDirectory) WorkspaceName(ctx context.Context, ws string) (string, error) {
	return d.a.Identity.WorkspaceName(ctx, ws)
}

func (d outreachDirectory) PatientWorkspace(ctx context.Context, patientID string) (string, error) {
	ws, err := d.a.patientWorkspace(ctx, patientID)
	if err == nil && ws == "" {
		err = fmt.Errorf("find patient workspace: no such patient")
	}
	return ws, err
}
