package app

import (
	"context"
	"time"

	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/notice"
)

// noticeDelivery builds the privacy-notice delivery on the accounts and the
// server's mailer (SMTP, the development outbox, or Unconfigured, whose
// failures leave rows queued for a later sweep).
func (a *App) noticeDelivery() *notice.Delivery { return a.NoticeDeliveryVia(a.mailer) }

// NoticeDeliveryVia is the program's notice delivery sending through m, for
// tests that need a mailer refusing some addresses.
func (a *App) NoticeDeliveryVia(m mail.Mailer) *notice.Delivery {
	return notice.NewDelivery(a.DB, a.serviceAudit(), m, noticePeople{a.Identity},
		notice.DeliveryOptions{BaseURL: a.Config.BaseURL, Log: a.Log})
}

// StartNoticeDelivery sweeps due privacy-notice mail every
// Config.NoticeSweep until ctx ends. Only `serve` starts it; Close waits for
// it. Several servers may run it on one database.
func (a *App) StartNoticeDelivery(ctx context.Context) {
	if a.NoticeDelivery == nil {
		return
	}
	every := a.Config.NoticeSweep
	if every <= 0 {
		every = 5 * time.Minute
	}
	a.janitor.Add(1)
	go func() {
		defer a.janitor.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			rep, err := a.NoticeDelivery.Sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				a.Log.Warn("privacy notice delivery", "err", err.Error())
			case rep.Queued+rep.Sent+rep.Bounced+rep.Retry > 0:
				a.Log.Info("privacy notice delivery", "queued", rep.Queued, "sent", rep.Sent, "bounced", rep.Bounced, "retry", rep.Retry)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// noticePeople is the accounts as notice delivery sees them.
type noticePeople struct{ id *identity.Service }

func (p noticePeople) Audience(ctx context.Context, ws string, at time.Time) ([]notice.Reader, error) {
	rs, err := p.id.NoticeAudience(ctx, ws, at)
	if err != nil {
		return nil, err
	}
	out := make([]notice.Reader, len(rs))
	for i, r := range rs {
		out[i] = notice.Reader{UserID: r.UserID, Since: r.Since}
	}
	return out, nil
}

func (p noticePeople) Contacts(ctx context.Context, ids []string) (map[string]notice.Contact, error) {
	cs, err := p.id.Contacts(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]notice.Contact, len(cs))
	for id, c := range cs {
		out[id] = notice.Contact{Name: c.Name, Email: c.Email}
	}
	return out, nil
}
