package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/capture"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/rehab"
	"github.com/custodia-health/custodia/internal/web"
)

// records builds the patient and case services on the app's audit log.
func (a *App) records(log *slog.Logger) *web.Records {
	cfg := patient.Config{DB: a.DB, Keys: a.Keys, Audit: a.serviceAudit(), Log: log, NoticeInForce: a.noticeInForce}
	if a.Identity != nil {
		cfg.Inviter = portalInviter{a.Identity}
		cfg.Notifier = breakGlassAlerts{id: a.Identity, baseURL: a.Config.BaseURL}
	}
	a.Patients = patient.New(cfg)
	a.Cases = casefile.New(a.DB, a.Patients, nil)
	return &web.Records{Patients: a.Patients, Cases: a.Cases}
}

// consentSubjects answers consent's questions from the patient records.
type consentSubjects struct{ patient.Subjects }

func (c consentSubjects) Workspace(ctx context.Context, patientID string) (string, error) {
	ws, err := c.Subjects.Workspace(ctx, patientID)
	if errors.Is(err, patient.ErrNotFound) {
		return "", fmt.Errorf("patient %s: %w", patientID, consent.ErrNoPatient)
	}
	return ws, err
}

// consentService builds consent per purpose over the patient records and
// seeds the consent texts.
func (a *App) consentService(ctx context.Context) (*consent.Service, error) {
	cs := consent.New(a.DB, a.serviceAudit(), a.Keys, a.Blobs, consentSubjects{patient.Subjects{S: a.Patients}})
	cs.SetNoticeInForce(a.noticeInForce)
	if err := cs.Seed(ctx); err != nil {
		return nil, fmt.Errorf("seed consent texts: %w", err)
	}
	return cs, nil
}

// mediaService keeps imaging and models on cases: the case service supplies
// the policy facts, media decides, audits and decrypts.
func (a *App) mediaService() *media.Service {
	limits := media.DefaultLimits
	limits.MaxFileSize = a.Config.MaxUpload
	return &media.Service{
		Store: &media.Store{DB: a.DB, Keys: a.Keys, Blobs: a.Blobs, Limits: limits},
		Audit: a.serviceAudit(),
		CaseFacts: func(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
			pid, r, err := a.Cases.Facts(ctx, p, caseID)
			if errors.Is(err, patient.ErrNotFound) {
				return "", r, media.ErrNotFound
			}
			return pid, r, err
		},
	}
}

// captureService keeps patients' own captures and their connections to
// doctors; an attached capture becomes a case file in media's store.
func (a *App) captureService(files *media.Service) *capture.Service {
	return &capture.Service{PatientWorkspace: patient.Subjects{S: a.Patients}.Workspace, DB: a.DB, Keys: a.Keys, Blobs: a.Blobs, Audit: a.serviceAudit(), Limits: files.Store.Limits,
		Files: files.Store, CaseFacts: files.CaseFacts, Clinician: a.Identity.ClinicianByEmail}
}

// patientWorkspace tells identity which workspace holds a patient record
// ("" for none), so a portal invitation cannot link an account to another
// clinic's patient. The patient service is built after identity; the
// question is only asked once requests are served.
func (a *App) patientWorkspace(ctx context.Context, patientID string) (string, error) {
	if a.Patients == nil {
		return "", nil
	}
	ws, err := patient.Subjects{S: a.Patients}.Workspace(ctx, patientID)
	if errors.Is(err, patient.ErrNotFound) {
		return "", nil
	}
	return ws, err
}

// portalInviter sends patient portal invitations through identity.
type portalInviter struct{ id *identity.Service }

func (p portalInviter) InvitePatient(ctx context.Context, pr *access.Principal, inv patient.PortalInvitation) error {
	role := access.RolePatient
	if inv.Relationship == "representative" {
		role = access.RoleRepresentative
	}
	_, err := p.id.Invite(ctx, pr, inv.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: inv.Email, Role: role, PatientID: inv.PatientID, Receipt: inv.Receipt},
		identity.Meta{ClientAddr: pr.ClientAddr, RequestID: pr.RequestID})
	return err
}

// breakGlassAlerts emails the workspace's privacy officers when emergency
// access is opened. The message names no patient: the officer signs in to
// see the review queue.
type breakGlassAlerts struct {
	id      *identity.Service
	baseURL string
}

func (b breakGlassAlerts) BreakGlassOpened(ctx context.Context, a patient.BreakGlassAlert) error {
	return b.id.NotifyPrivacyOfficers(ctx, a.WorkspaceID, "Emergency (break-glass) access needs your review",
		"A clinician opened emergency access to a patient record (reason code: "+a.ReasonCode+").\n\n"+
			"Review it here after signing in:\n"+b.baseURL+"/privacy/break-glass\n")
}

// rehabPortal lets a therapist give an adult patient a portal account from
// the rehabilitation page. A minor's access goes through their personal
// representative, which the patient page handles.
type rehabPortal struct{ a *App }

func (r rehabPortal) InvitePatient(ctx context.Context, p *access.Principal, workspaceID, patientID, email string) error {
	if r.a.Identity == nil {
		return rehab.ErrNoPortal
	}
	// The records decide and audit the invitation first, like the patient
	// page's own (identity refuses a patient invitation without that
	// receipt); only then is the birth date read to send minors elsewhere.
	rc, err := r.a.Patients.AuthorizePortalInvite(ctx, p, patientID)
	if err != nil {
		return err
	}
	minor, err := patient.Subjects{S: r.a.Patients}.IsMinor(ctx, patientID, time.Now())
	if err != nil {
		return err
	}
	if minor {
		return rehab.ErrPortalMinor
	}
	return portalInviter{r.a.Identity}.InvitePatient(ctx, p, patient.PortalInvitation{WorkspaceID: workspaceID, PatientID: patientID,
		Email: email, Relationship: "self", Receipt: rc})
}
