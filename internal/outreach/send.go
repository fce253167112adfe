package outreach

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/mail"
)

// Send starts sending a draft to the workspace's patients, in the
// background, and returns at once; Campaign shows the progress. A campaign
// is sent once: a second Send answers ErrAlreadySent.
func (s *Service) Send(ctx context.Context, p *access.Principal, ws, id string) error {
	c, err := s.Campaign(ctx, p, ws, id)
	if err != nil {
		return err
	}
	if c.Status != Draft {
		return ErrAlreadySent
	}
	rs, err := s.dir.PatientMailboxes(ctx, ws)
	if err != nil {
		return err
	}
	name, err := s.dir.WorkspaceName(ctx, ws)
	if err != nil {
		return err
	}
	if err := s.appendAudit(ctx, p, audit.Event{Action: "outreach.send", ResourceType: "outreach_campaign", ResourceID: id,
		WorkspaceID: ws, Purpose: string(consent.Marketing), Decision: "allow", Outcome: "success"}); err != nil {
		return err
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE outreach_campaigns SET status = $1, sent_by = $2, started_at = $3, total = $4
		WHERE id = $5 AND status = $6`, string(Sending), p.UserID, s.now().UnixMicro(), len(rs), id, string(Draft))
	if err != nil {
		return fmt.Errorf("start campaign: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrAlreadySent // another request started it first
	}
	// The request's principal stays in the context, so each consent check
	// and each message's audit entry names the admin who sent it.
	bg := context.WithoutCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deliver(bg, p, c, name, rs)
	}()
	return nil
}

// deliver sends c to each recipient whose marketing consent stands when
// their turn comes. It stops (fail closed) if the audit log cannot be
// written; the campaign is then done with fewer handled than its total.
func (s *Service) deliver(ctx context.Context, p *access.Principal, c Campaign, wsName string, rs []Recipient) {
	defer func() {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE outreach_campaigns SET status = $1, finished_at = $2 WHERE id = $3`,
			string(Done), s.now().UnixMicro(), c.ID); err != nil {
			s.log.Error("finish campaign", "campaign", c.ID, "err", err.Error())
		}
	}()
	for _, r := range rs {
		if s.beforeEach != nil {
			s.beforeEach(r.PatientID)
		}
		status, reason := "sent", ""
		d, err := s.consent.Allows(ctx, r.PatientID, consent.Marketing, s.now(), consent.General)
		switch {
		case err != nil:
			s.log.Error("consent check failed; sending stopped", "campaign", c.ID, "err", err.Error())
			return
		case !d.Allowed:
			status, reason = "excluded", d.Reason
		default:
			entry := audit.Event{Action: "outreach.mail", ResourceType: "outreach_campaign", ResourceID: c.ID, WorkspaceID: c.WorkspaceID,
				PatientID: r.PatientID, Purpose: string(consent.Marketing), Reason: consent.ReasonGranted, Decision: "allow", Outcome: "success"}
			if err := s.appendAudit(ctx, p, entry); err != nil {
				s.log.Error("audit append failed; sending stopped", "campaign", c.ID, "err", err.Error())
				return
			}
			if err := s.mailer.Send(ctx, s.message(c, wsName, r)); err != nil {
				status, reason = "failed", "mail_failed"
				s.log.Warn("news message not delivered", "campaign", c.ID, "patient", r.PatientID, "err", mail.RedactAddresses(err.Error()))
			}
		}
		if err := s.record(ctx, c.ID, r.PatientID, status, reason); err != nil {
			s.log.Error("record recipient", "campaign", c.ID, "err", err.Error())
			return
		}
	}
}

func (s *Service) record(ctx context.Context, campaignID, patientID, status, reason string) error {
	col := map[string]string{"sent": "sent", "failed": "failed", "excluded": "excluded"}[status]
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outreach_recipients (campaign_id, patient_id, status, reason, at)
			VALUES ($1, $2, $3, $4, $5)`, campaignID, patientID, status, reason, s.now().UnixMicro()); err != nil {
			return fmt.Errorf("insert recipient: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outreach_campaigns SET `+col+` = `+col+` + 1 WHERE id = $1`, campaignID); err != nil {
			return fmt.Errorf("count recipient: %w", err)
		}
		return nil
	})
}

// message is one recipient's email: the news, the reason they get it, and
// the unsubscribe link, with the RFC 8058 one-click headers.
func (s *Service) message(c Campaign, wsName string, r Recipient) mail.Message {
	link := s.UnsubscribeURL(r.PatientID, consent.Marketing)
	var b strings.Builder
	if r.Name != "" {
		fmt.Fprintf(&b, "Hello %s,\n\n", r.Name)
	}
	b.WriteString(c.Text)
	fmt.Fprintf(&b, "\n\n--\nYou receive news from %s because you agreed to hear about products and services.\n", wsName)
	fmt.Fprintf(&b, "To stop these messages, open this link:\n%s\n", link)
	b.WriteString("Messages about your care and your account are not affected.\n")
	return mail.Message{To: r.Email, Subject: c.Subject, Text: b.String(), Headers: []mail.Header{
		{Name: "List-Unsubscribe", Value: "<" + link + ">"},
		{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"},
	}}
}

// Unsubscription is what an unsubscribe link names, in words.
type Unsubscription struct {
	PatientID     string
	Purpose       consent.PurposeCode
	WorkspaceName string
}

// Peek checks a token and says what it would withdraw, changing nothing
// (the GET page: link scanners fetch links).
func (s *Service) Peek(ctx context.Context, token string) (Unsubscription, error) {
	pid, purpose, err := s.signer.Verify(token)
	if err != nil {
		return Unsubscription{}, err
	}
	ws, err := s.dir.PatientWorkspace(ctx, pid)
	if err != nil {
		return Unsubscription{}, ErrBadToken // the record is gone: nothing to withdraw
	}
	name, err := s.dir.WorkspaceName(ctx, ws)
	if err != nil {
		return Unsubscription{}, err
	}
	return Unsubscription{PatientID: pid, Purpose: purpose, WorkspaceName: name}, nil
}

// Unsubscribe checks a token and records the withdrawal it names in the
// consent ledger (method unsubscribe_link, decided by the patient).
func (s *Service) Unsubscribe(ctx context.Context, token string) (Unsubscription, error) {
	u, err := s.Peek(ctx, token)
	if err != nil {
		return Unsubscription{}, err
	}
	if _, err := s.consent.RecordUnsubscribe(ctx, u.PatientID, u.Purpose); err != nil {
		return Unsubscription{}, err
	}
	return u, nil
}
