package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/ids"
	"github.com/custodia-health/custodia/internal/mail"
)

// Delivery gives the notices to the people they apply to (164.520(c)): at
// enrolment (the acceptance gate), by email within DeliveryDeadline of a
// material change, and a notice of availability at least every
// AvailabilityEvery. Each person's delivery is a row of notice_deliveries
// (queued, sent, bounced, delivered in person or by post, superseded);
// acceptance is read from notice_acceptances, so the gate needs no change.
//
// Sweep does the work in the background. It is idempotent and safe with
// several servers on one database: rows are queued with INSERT ... ON
// CONFLICT DO NOTHING on a key of (version, person, kind, round), and a
// sweeper mails a row only while it holds the row's lease.
type Delivery struct {
	db     *db.DB
	audit  audit.Appender
	mailer mail.Mailer
	people People
	opt    DeliveryOptions
	now    func() time.Time
}

// Legal periods.
const (
	// DeliveryDeadline: a material change is given to everyone it applies
	// to within 60 days of its publication.
	DeliveryDeadline = 60 * 24 * time.Hour
	// AvailabilityEvery: people are told at least every three years that
	// the notice is available and how to get it.
	AvailabilityEvery = 3 * 365 * 24 * time.Hour
)

// People is what delivery needs from the accounts (identity.Service, through
// an adapter in app).
type People interface {
	// Audience lists the accounts a notice of workspaceID ("" = the
	// platform) applies to that existed at or before at.
	Audience(ctx context.Context, workspaceID string, at time.Time) ([]Reader, error)
	// Contacts opens names and addresses; unknown ids are left out.
	Contacts(ctx context.Context, userIDs []string) (map[string]Contact, error)
}

// Reader is a person a notice applies to, since when.
type Reader struct {
	UserID string
	Since  time.Time
}

// Contact is a person's name and address.
type Contact struct{ Name, Email string }

// DeliveryOptions tune the sweep; zero values take the defaults.
type DeliveryOptions struct {
	BaseURL string        // links in the mail point here
	Batch   int           // rows mailed per sweep (default 20)
	Lease   time.Duration // how long a claimed row stays a sweeper's (default 10m)
	Retry   time.Duration // wait after a temporary mail failure (default 15m)
	Log     *slog.Logger
}

// NewDelivery builds the delivery service.
func NewDelivery(d *db.DB, a audit.Appender, m mail.Mailer, people People, o DeliveryOptions) *Delivery {
	if o.Batch <= 0 {
		o.Batch = 20
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.Retry <= 0 {
		o.Retry = 15 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Delivery{db: d, audit: a, mailer: m, people: people, opt: o, now: time.Now}
}

// SetClock replaces the clock, for tests.
func (d *Delivery) SetClock(now func() time.Time) { d.now = now }

// Delivery states and kinds, as stored.
const (
	StatusQueued     = "queued"
	StatusSent       = "sent"
	StatusBounced    = "bounced"
	StatusDelivered  = "delivered" // in person, by post, or seen in the app before the mail went
	StatusSuperseded = "superseded"

	KindMaterial     = "material"
	KindAvailability = "availability"
	KindEnrolment    = "enrolment"

	MethodEmail     = "email"
	MethodEnrolment = "enrolment"
	MethodInApp     = "in_app"
	MethodInPerson  = "in_person"
	MethodPost      = "post"
)

// SweepReport counts what one sweep did.
type SweepReport struct {
	Queued, Sent, Bounced, Retry, InApp, Enrolments int
}

// Sweep runs one round: it queues the audience of each scope's newest
// material version (once), records acceptances at enrolment, queues notices
// of availability that have come due, and mails up to Batch queued rows.
func (d *Delivery) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	// Material first: someone who accepted before the queueing is in its
	// audience and is marked delivered in the app, not counted twice.
	n, err := d.queueMaterial(ctx)
	rep.Queued += n
	if err != nil {
		return rep, err
	}
	if rep.Enrolments, err = d.recordEnrolments(ctx); err != nil {
		return rep, err
	}
	n, err = d.queueAvailability(ctx)
	rep.Queued += n
	if err != nil {
		return rep, err
	}
	err = d.send(ctx, &rep)
	return rep, err
}

// recordEnrolments writes a delivery for every acceptance that has none:
// the person read and accepted the notice at the gate, which is delivery.
func (d *Delivery) recordEnrolments(ctx context.Context) (int, error) {
	res, err := d.db.Write.ExecContext(ctx, `INSERT INTO notice_deliveries
		(notice_id, user_id, kind, round, workspace_id, status, method, queued_at, deadline_at, delivered_at)
		SELECT a.notice_id, a.user_id, 'enrolment', 0, a.workspace_id, 'delivered', 'enrolment', a.accepted_at, a.accepted_at, a.accepted_at
		FROM notice_acceptances a
		WHERE NOT EXISTS (SELECT 1 FROM notice_deliveries x WHERE x.notice_id = a.notice_id AND x.user_id = a.user_id)
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("record deliveries at enrolment: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// queueMaterial queues, for each scope whose newest material version has
// not been queued yet, everyone it applied to when it was published. Rows
// and the run marker commit together, so a crash queues again from scratch
// and a second server's identical rows are ignored.
func (d *Delivery) queueMaterial(ctx context.Context) (int, error) {
	rows, err := d.db.Read.QueryContext(ctx, `SELECT `+prefixed("v.")+` FROM notice_versions v
		WHERE v.material = 1
		  AND v.version = (SELECT MAX(w.version) FROM notice_versions w WHERE w.workspace_id = v.workspace_id AND w.material = 1)
		  AND NOT EXISTS (SELECT 1 FROM notice_delivery_runs r WHERE r.notice_id = v.id)`)
	if err != nil {
		return 0, fmt.Errorf("find material notices to deliver: %w", err)
	}
	var todo []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("find material notices to deliver: %w", err)
		}
		todo = append(todo, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find material notices to deliver: %w", err)
	}
	total := 0
	for _, v := range todo {
		readers, err := d.people.Audience(ctx, v.WorkspaceID, v.PublishedAt)
		if err != nil {
			return total, err
		}
		now := d.now().UnixMicro()
		deadline := v.PublishedAt.Add(DeliveryDeadline).UnixMicro()
		n := 0
		err = d.db.Tx(ctx, func(tx *sql.Tx) error {
			n = 0
			for _, r := range readers {
				res, err := tx.ExecContext(ctx, `INSERT INTO notice_deliveries
					(notice_id, user_id, kind, round, workspace_id, status, queued_at, deadline_at)
					VALUES ($1, $2, 'material', 0, $3, 'queued', $4, $5) ON CONFLICT DO NOTHING`,
					v.ID, r.UserID, v.WorkspaceID, now, deadline)
				if err != nil {
					return fmt.Errorf("queue notice delivery: %w", err)
				}
				k, _ := res.RowsAffected()
				n += int(k)
			}
			// What an older version still had queued is given by this one.
			if _, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET status = 'superseded'
				WHERE workspace_id = $1 AND notice_id <> $2 AND status = 'queued'`, v.WorkspaceID, v.ID); err != nil {
				return fmt.Errorf("supersede older notice deliveries: %w", err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO notice_delivery_runs (notice_id, queued_at, audience)
				VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, v.ID, now, len(readers))
			if err != nil {
				return fmt.Errorf("mark notice queued: %w", err)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// queueAvailability queues a notice of availability of the notice in force
// for each person whose last delivery of that scope's notice (mail sent,
// given in person or by post, accepted at the gate) is older than
// AvailabilityEvery, or who never had one and joined longer ago than that.
// People with a delivery still queued are left alone. round numbers the
// person's availability notices of that version, so two sweepers that see
// the same state queue the same row.
func (d *Delivery) queueAvailability(ctx context.Context) (int, error) {
	scopes, err := d.scopes(ctx)
	if err != nil {
		return 0, err
	}
	now := d.now()
	total := 0
	for _, scope := range scopes {
		cur, err := d.current(ctx, scope)
		if err != nil {
			return total, err
		}
		readers, err := d.people.Audience(ctx, scope, now)
		if err != nil {
			return total, err
		}
		type state struct {
			last   int64
			rounds int
			open   bool
		}
		st := map[string]*state{}
		// One statement, one snapshot: last delivery, availability rounds of
		// the current version and whether anything is still queued.
		rows, err := d.db.Read.QueryContext(ctx, `SELECT user_id,
			  MAX(CASE WHEN status = 'sent' THEN sent_at WHEN status = 'delivered' THEN delivered_at ELSE 0 END),
			  SUM(CASE WHEN kind = 'availability' AND notice_id = $2 THEN 1 ELSE 0 END),
			  SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END)
			FROM notice_deliveries WHERE workspace_id = $1 GROUP BY user_id`, scope, cur.ID)
		if err != nil {
			return total, fmt.Errorf("read last notice deliveries: %w", err)
		}
		for rows.Next() {
			var uid string
			var s state
			var open int
			if err := rows.Scan(&uid, &s.last, &s.rounds, &open); err != nil {
				rows.Close()
				return total, fmt.Errorf("read last notice deliveries: %w", err)
			}
			s.open = open > 0
			st[uid] = &s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("read last notice deliveries: %w", err)
		}
		due := now.Add(-AvailabilityEvery).UnixMicro()
		for _, r := range readers {
			s := st[r.UserID]
			if s == nil {
				s = &state{}
			}
			last := s.last
			if last == 0 {
				last = r.Since.UnixMicro()
			}
			if s.open || last > due {
				continue
			}
			res, err := d.db.Write.ExecContext(ctx, `INSERT INTO notice_deliveries
				(notice_id, user_id, kind, round, workspace_id, status, queued_at, deadline_at)
				VALUES ($1, $2, 'availability', $3, $4, 'queued', $5, $6) ON CONFLICT DO NOTHING`,
				cur.ID, r.UserID, s.rounds+1, scope, now.UnixMicro(), time.UnixMicro(last).Add(AvailabilityEvery).UnixMicro())
			if err != nil {
				return total, fmt.Errorf("queue notice of availability: %w", err)
			}
			k, _ := res.RowsAffected()
			total += int(k)
		}
	}
	return total, nil
}

func (d *Delivery) scopes(ctx context.Context) ([]string, error) {
	rows, err := d.db.Read.QueryContext(ctx, `SELECT DISTINCT workspace_id FROM notice_versions ORDER BY workspace_id`)
	if err != nil {
		return nil, fmt.Errorf("list notice scopes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list notice scopes: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (d *Delivery) current(ctx context.Context, scope string) (Version, error) {
	v, err := scanVersion(d.db.Read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM notice_versions
		WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1`, scope))
	if err != nil {
		return Version{}, fmt.Errorf("read current notice: %w", err)
	}
	return v, nil
}

// claimed is a queued row a sweeper holds.
type claimed struct {
	noticeID, userID, kind, scope string
	round, version                int
}

// send claims up to Batch queued rows whose lease is free and mails each,
// renewing the lease just before the mail goes so a row another sweeper
// took over (after this one stalled past its lease) is skipped.
func (d *Delivery) send(ctx context.Context, rep *SweepReport) error {
	token := ids.New()
	now := d.now().UnixMicro()
	until := now + d.opt.Lease.Microseconds()
	// The outer conditions are checked again on the locked row (PostgreSQL
	// re-evaluates them after waiting for a concurrent claim), so two
	// sweepers never both claim one row.
	if _, err := d.db.Write.ExecContext(ctx, `UPDATE notice_deliveries SET claimed_by = $1, claimed_until = $2
		WHERE status = 'queued' AND claimed_until < $3
		  AND (notice_id, user_id, kind, round) IN (SELECT notice_id, user_id, kind, round FROM notice_deliveries
		      WHERE status = 'queued' AND claimed_until < $3 ORDER BY deadline_at, queued_at LIMIT $4)`,
		token, until, now, d.opt.Batch); err != nil {
		return fmt.Errorf("claim notice deliveries: %w", err)
	}
	rows, err := d.db.Write.QueryContext(ctx, `SELECT d.notice_id, d.user_id, d.kind, d.round, d.workspace_id, v.version
		FROM notice_deliveries d JOIN notice_versions v ON v.id = d.notice_id
		WHERE d.claimed_by = $1 AND d.status = 'queued'`, token)
	if err != nil {
		return fmt.Errorf("read claimed notice deliveries: %w", err)
	}
	var batch []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.noticeID, &c.userID, &c.kind, &c.round, &c.scope, &c.version); err != nil {
			rows.Close()
			return fmt.Errorf("read claimed notice deliveries: %w", err)
		}
		batch = append(batch, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read claimed notice deliveries: %w", err)
	}
	if len(batch) == 0 {
		return nil
	}
	uids := make([]string, len(batch))
	for i, c := range batch {
		uids[i] = c.userID
	}
	contacts, err := d.people.Contacts(ctx, uids)
	if err != nil {
		return err
	}
	for _, c := range batch {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := d.sendOne(ctx, token, c, contacts, rep); err != nil {
			return err
		}
	}
	return nil
}

const keyWhere = `notice_id = $1 AND user_id = $2 AND kind = $3 AND round = $4`

func (d *Delivery) sendOne(ctx context.Context, token string, c claimed, contacts map[string]Contact, rep *SweepReport) error {
	key := []any{c.noticeID, c.userID, c.kind, c.round}
	now := d.now().UnixMicro()
	// A person who accepted this version (or a later one) at the gate has
	// the notice already: no mail.
	if c.kind == KindMaterial {
		var one int
		err := d.db.Read.QueryRowContext(ctx, `SELECT 1 FROM notice_acceptances WHERE user_id = $1 AND workspace_id = $2 AND version >= $3 LIMIT 1`,
			c.userID, c.scope, c.version).Scan(&one)
		if err == nil {
			rep.InApp++
			return d.finish(ctx, token, key, `status = 'delivered', method = 'in_app', delivered_at = $6`, now)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read notice acceptance: %w", err)
		}
	}
	res, err := d.db.Write.ExecContext(ctx, `UPDATE notice_deliveries SET claimed_until = $5
		WHERE `+keyWhere+` AND claimed_by = $6 AND status = 'queued'`, append(key, now+d.opt.Lease.Microseconds(), token)...)
	if err != nil {
		return fmt.Errorf("renew notice delivery lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // another sweeper has it now
	}
	to, ok := contacts[c.userID]
	if !ok {
		// The account is gone: nobody to mail; the page lists it to be
		// given another way.
		rep.Bounced++
		return d.finish(ctx, token, key, `status = 'bounced', attempts = attempts + 1, bounced_at = $6`, now)
	}
	err = d.mailer.Send(ctx, d.message(c, to))
	switch {
	case err == nil:
		rep.Sent++
		return d.finish(ctx, token, key, `status = 'sent', method = 'email', attempts = attempts + 1, sent_at = $6`, d.now().UnixMicro())
	case mail.IsPermanent(err):
		rep.Bounced++
		return d.finish(ctx, token, key, `status = 'bounced', method = 'email', attempts = attempts + 1, bounced_at = $6`, d.now().UnixMicro())
	default:
		rep.Retry++
		d.opt.Log.Warn("notice mail not sent; will retry", "notice_id", c.noticeID, "user_id", c.userID, "err", mail.RedactAddresses(err.Error()))
		return d.finish(ctx, token, key, `claimed_by = '', attempts = attempts + 1, claimed_until = $6`, d.now().Add(d.opt.Retry).UnixMicro())
	}
}

// finish sets a claimed row's outcome, if this sweeper still holds it.
func (d *Delivery) finish(ctx context.Context, token string, key []any, set string, at int64) error {
	args := append(append([]any(nil), key...), token, at)
	_, err := d.db.Write.ExecContext(ctx, `UPDATE notice_deliveries SET `+set+`
		WHERE `+keyWhere+` AND claimed_by = $5 AND status = 'queued'`, args...)
	if err != nil {
		return fmt.Errorf("record notice delivery: %w", err)
	}
	return nil
}

// message is the mail for a delivery: the recipient's own name and a link,
// nothing about their care. A workspace's notice does not name the
// workspace, since the practice a patient uses is itself PHI.
func (d *Delivery) message(c claimed, to Contact) mail.Message {
	link := d.opt.BaseURL + "/privacy"
	who := "Custodia has"
	if c.scope != "" {
		who = "A practice you use on Custodia has"
	}
	hello := "Hello,"
	if to.Name != "" {
		hello = "Hello " + to.Name + ","
	}
	if c.kind == KindAvailability {
		return mail.Message{To: to.Email, Subject: "Our privacy notice is available",
			Text: hello + "\n\nOur privacy notice is available at " + link + "\n\nIt explains how health information may be used and shared, your rights and how to complain. You may ask for a paper copy at any time.\n\nThis is a service message sent to everyone the notice applies to, at least every three years.\n"}
	}
	return mail.Message{To: to.Email, Subject: "Our privacy notice has changed",
		Text: hello + "\n\n" + who + " published a new version of its privacy notice. Read it here:\n\n" + link + "\n\nYou will be asked to accept it the next time you sign in. You may ask for a paper copy at any time.\n\nThis is a service message sent to everyone the notice applies to.\n"}
}

// prefixed is versionColumns with each column qualified by p.
func prefixed(p string) string {
	return p + "id, " + p + "workspace_id, " + p + "version, " + p + "material, " + p + "title, " + p + "body, " + p + "summary, " + p + "published_at, " + p + "published_by"
}

// ---- what the privacy officer reads ----

// PersonDelivery is one person's delivery of a version.
type PersonDelivery struct {
	UserID      string
	Kind        string
	Round       int
	Status      string
	Method      string
	Deadline    time.Time
	SentAt      time.Time
	BouncedAt   time.Time
	DeliveredAt time.Time
	DeliveredBy string
	Accepted    bool
	Overdue     bool // bounced, or still not sent after its deadline
}

// Progress is a version's delivery in figures.
type Progress struct {
	Version   Version
	Deadline  time.Time // PublishedAt + DeliveryDeadline, for a material version
	AppliesTo int       // people with a delivery of this version (superseded ones left out)
	Queued    int
	Sent      int
	Bounced   int
	Delivered int // in person, by post, in the app or at enrolment
	Accepted  int
	Overdue   []PersonDelivery // by deadline, earliest first
	Recorded  []PersonDelivery // given in person or by post, newest first
}

// mayOversee: a workspace's privacy officer or administrator for theirs;
// the platform operator for the platform notice.
func mayOversee(p *access.Principal, workspaceID string) bool {
	if p == nil || p.UserID == "" {
		return false
	}
	if workspaceID == "" {
		return p.Role == access.RoleOperator
	}
	return p.WorkspaceID == workspaceID && p.HasAny(access.RoleAdmin, access.RolePrivacyOfficer)
}

// Progress reports, newest version first, each delivered version of a
// scope's notice. Who has an account at a practice is PHI, so the read is
// audited (notice.delivery_read) before anything is returned.
func (d *Delivery) Progress(ctx context.Context, p *access.Principal, workspaceID string) ([]Progress, error) {
	if !mayOversee(p, workspaceID) {
		d.deny(ctx, p, "notice.delivery_read", workspaceID)
		return nil, ErrDenied
	}
	if _, err := d.appendAudit(ctx, p, audit.Event{Action: "notice.delivery_read", ResourceType: "notice", WorkspaceID: workspaceID,
		Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return nil, err
	}
	// The body is left out: it is not shown, and it would come once per row.
	rows, err := d.db.Read.QueryContext(ctx, `SELECT v.id, v.workspace_id, v.version, v.material, v.title, '', v.summary, v.published_at, v.published_by, d.user_id, d.kind, d.round, d.status, d.method,
		  d.deadline_at, d.sent_at, d.bounced_at, d.delivered_at, d.delivered_by,
		  CASE WHEN EXISTS (SELECT 1 FROM notice_acceptances a WHERE a.user_id = d.user_id AND a.workspace_id = d.workspace_id AND a.version >= v.version) THEN 1 ELSE 0 END
		FROM notice_deliveries d JOIN notice_versions v ON v.id = d.notice_id
		WHERE d.workspace_id = $1 AND d.status <> 'superseded'
		ORDER BY v.version DESC`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("read notice deliveries: %w", err)
	}
	defer rows.Close()
	now := d.now()
	var out []Progress
	for rows.Next() {
		var v Version
		var pd PersonDelivery
		var material, accepted int
		var at, deadline, sent, bounced, delivered int64
		if err := rows.Scan(&v.ID, &v.WorkspaceID, &v.Version, &material, &v.Title, &v.Body, &v.Summary, &at, &v.PublishedBy,
			&pd.UserID, &pd.Kind, &pd.Round, &pd.Status, &pd.Method, &deadline, &sent, &bounced, &delivered, &pd.DeliveredBy, &accepted); err != nil {
			return nil, fmt.Errorf("read notice deliveries: %w", err)
		}
		v.Material, v.PublishedAt = material == 1, time.UnixMicro(at).UTC()
		pd.Deadline, pd.Accepted = time.UnixMicro(deadline).UTC(), accepted == 1
		pd.SentAt, pd.BouncedAt, pd.DeliveredAt = micros(sent), micros(bounced), micros(delivered)
		if len(out) == 0 || out[len(out)-1].Version.ID != v.ID {
			pr := Progress{Version: v}
			if v.Material {
				pr.Deadline = v.PublishedAt.Add(DeliveryDeadline)
			}
			out = append(out, pr)
		}
		pr := &out[len(out)-1]
		pr.AppliesTo++
		switch pd.Status {
		case StatusQueued:
			pr.Queued++
			pd.Overdue = now.After(pd.Deadline)
		case StatusSent:
			pr.Sent++
		case StatusBounced:
			pr.Bounced++
			pd.Overdue = true
		case StatusDelivered:
			pr.Delivered++
		}
		if pd.Accepted {
			pr.Accepted++
			pd.Overdue = false // they read and accepted it in the app
		}
		if pd.Overdue {
			pr.Overdue = append(pr.Overdue, pd)
		}
		if pd.Status == StatusDelivered && (pd.Method == MethodInPerson || pd.Method == MethodPost) {
			pr.Recorded = append(pr.Recorded, pd)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read notice deliveries: %w", err)
	}
	for i := range out {
		sort.SliceStable(out[i].Overdue, func(a, b int) bool { return out[i].Overdue[a].Deadline.Before(out[i].Overdue[b].Deadline) })
		sort.SliceStable(out[i].Recorded, func(a, b int) bool { return out[i].Recorded[a].DeliveredAt.After(out[i].Recorded[b].DeliveredAt) })
	}
	return out, nil
}

func micros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// ErrNothingToRecord: the person has no undelivered notice of that version.
var ErrNothingToRecord = errors.New("no undelivered notice for this person")

// RecordDelivery records that the notice version was given to the person
// another way (method MethodInPerson or MethodPost), by the principal, now:
// for a bounced mail or anyone still waiting.
func (d *Delivery) RecordDelivery(ctx context.Context, p *access.Principal, noticeID, userID, method string) error {
	v, err := d.overseen(ctx, p, "notice.delivery_record", noticeID)
	if err != nil {
		return err
	}
	if method != MethodInPerson && method != MethodPost {
		return &ValidationError{Fields: map[string]string{"method": "Choose in person or by post."}}
	}
	if _, err := d.appendAudit(ctx, p, audit.Event{Action: "notice.delivery_record", ResourceType: "user", ResourceID: userID,
		WorkspaceID: v.WorkspaceID, Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return err
	}
	res, err := d.db.Write.ExecContext(ctx, `UPDATE notice_deliveries SET status = 'delivered', method = $3, delivered_at = $4, delivered_by = $5
		WHERE notice_id = $1 AND user_id = $2 AND status IN ('queued', 'bounced')`, noticeID, userID, method, d.now().UnixMicro(), p.UserID)
	if err != nil {
		return fmt.Errorf("record notice delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNothingToRecord
	}
	return nil
}

// RecordBounce records a bounce reported after the mail was accepted (a
// delivery status notification that arrived later): the sent mail to the
// person is marked bounced and the person is overdue again.
func (d *Delivery) RecordBounce(ctx context.Context, p *access.Principal, noticeID, userID string) error {
	v, err := d.overseen(ctx, p, "notice.delivery_bounce", noticeID)
	if err != nil {
		return err
	}
	if _, err := d.appendAudit(ctx, p, audit.Event{Action: "notice.delivery_bounce", ResourceType: "user", ResourceID: userID,
		WorkspaceID: v.WorkspaceID, Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return err
	}
	res, err := d.db.Write.ExecContext(ctx, `UPDATE notice_deliveries SET status = 'bounced', bounced_at = $3
		WHERE notice_id = $1 AND user_id = $2 AND status = 'sent' AND method = 'email'`, noticeID, userID, d.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record notice bounce: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNothingToRecord
	}
	return nil
}

func (d *Delivery) appendAudit(ctx context.Context, p *access.Principal, e audit.Event) (audit.Receipt, error) {
	return (&Service{audit: d.audit}).appendAudit(ctx, p, e)
}

// overseen returns the version if p may oversee its delivery. Someone who
// oversees no notice at all is refused (and audited) before the version is
// looked up; another scope's version is unknown to them.
func (d *Delivery) overseen(ctx context.Context, p *access.Principal, action, noticeID string) (Version, error) {
	if !mayOversee(p, "") && !(p != nil && mayOversee(p, p.WorkspaceID)) {
		d.deny(ctx, p, action, "")
		return Version{}, ErrDenied
	}
	v, err := (&Service{db: d.db}).Get(ctx, noticeID)
	if err != nil {
		return Version{}, err
	}
	if !mayOversee(p, v.WorkspaceID) {
		return Version{}, ErrNotFound
	}
	return v, nil
}

// deny records a refused read or change; the refusal goes out even if the
// entry cannot be written.
func (d *Delivery) deny(ctx context.Context, p *access.Principal, action, workspaceID string) {
	if p == nil {
		p = &access.Principal{}
	}
	if workspaceID == "" {
		workspaceID = p.WorkspaceID
	}
	_, _ = d.appendAudit(ctx, p, audit.Event{Action: action, ResourceType: "notice", WorkspaceID: workspaceID,
		Decision: "deny", Reason: string(access.DenyRole), Outcome: "denied"})
}
