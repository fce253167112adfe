package notice_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/notice"
)

// people is an in-memory account directory.
type people struct {
	mu      sync.Mutex
	members map[string][]notice.Reader // scope → readers
	contact map[string]notice.Contact
}

func (p *people) Audience(_ context.Context, ws string, at time.Time) ([]notice.Reader, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []notice.Reader
	for _, r := range p.members[ws] {
		if !r.Since.After(at) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (p *people) Contacts(_ context.Context, ids []string) (map[string]notice.Contact, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]notice.Contact{}
	for _, id := range ids {
		if c, ok := p.contact[id]; ok {
			out[id] = c
		}
	}
	return out, nil
}

// mailbox records what was sent; addresses in refuse bounce for good,
// those in later fail for now.
type mailbox struct {
	mu     sync.Mutex
	sent   []mail.Message
	refuse map[string]bool
	later  map[string]bool
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse[msg.To] {
		return &mail.PermanentError{Code: 550, Stage: "RCPT TO"}
	}
	if m.later[msg.To] {
		return errors.New("send mail: connect to relay: connection refused")
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sent {
		if s.To == to {
			n++
		}
	}
	return n
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	d      *db.DB
	svc    *notice.Service
	people *people
	box    *mailbox
	clock  *time.Time
	log    audit.Appender
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.Open(context.Background(), d, sk, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	now := t0
	f := &fixture{d: d, svc: notice.New(d, l), log: l, clock: &now, box: &mailbox{refuse: map[string]bool{}, later: map[string]bool{}},
		people: &people{members: map[string][]notice.Reader{}, contact: map[string]notice.Contact{}}}
	f.svc.SetClock(func() time.Time { return *f.clock })
	return f
}

func (f *fixture) delivery(m mail.Mailer) *notice.Delivery {
	if m == nil {
		m = f.box
	}
	dl := notice.NewDelivery(f.d, f.log, m, f.people, notice.DeliveryOptions{BaseURL: "https://custodia.test", Batch: 50})
	dl.SetClock(func() time.Time { return *f.clock })
	return dl
}

func (f *fixture) person(ws, id, name string, since time.Time) {
	f.people.members[ws] = append(f.people.members[ws], notice.Reader{UserID: id, Since: since})
	f.people.contact[id] = notice.Contact{Name: name, Email: id + "@home.example"}
}

// publish writes a version straight into the table (the publishing rules
// are Publish's business, tested beside it).
func (f *fixture) publish(t *testing.T, ws string, version int, material bool) string {
	t.Helper()
	id := "nv_" + ws + "_" + string(rune('0'+version))
	m := 0
	if material {
		m = 1
	}
	if _, err := f.d.Write.Exec(`INSERT INTO notice_versions (id, workspace_id, version, material, title, body, summary, published_at, published_by)
		VALUES ($1, $2, $3, $4, 'Privacy notice', 'Text.', '', $5, 'u_op')`, id, ws, version, m, f.clock.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	return id
}

func sweep(t *testing.T, dl *notice.Delivery) notice.SweepReport {
	t.Helper()
	rep, err := dl.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

var officer = &access.Principal{UserID: "u_po", Role: access.RolePrivacyOfficer, Roles: []access.Role{access.RolePrivacyOfficer}, WorkspaceID: "ws_a"}

func progress(t *testing.T, dl *notice.Delivery, p *access.Principal, ws string) []notice.Progress {
	t.Helper()
	pr, err := dl.Progress(context.Background(), p, ws)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestMaterialChangeIsMailedOnceToEveryoneItAppliesTo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		before := t0.Add(-24 * time.Hour)
		f.person("ws_a", "u_ann", "Ann", before)
		f.person("ws_a", "u_pat", "Pat", before)
		f.person("ws_b", "u_other", "Other", before)
		f.person("", "u_ann", "Ann", before)
		nv := f.publish(t, "ws_a", 1, true)
		dl := f.delivery(nil)
		rep := sweep(t, dl)
		if rep.Queued != 2 || rep.Sent != 2 {
			t.Fatalf("first sweep %+v, want 2 queued and 2 sent", rep)
		}
		rep = sweep(t, dl)
		if rep.Queued != 0 || rep.Sent != 0 {
			t.Fatalf("second sweep %+v, want nothing", rep)
		}
		// A restarted server (a new service on the same database) sends nothing again.
		if rep := sweep(t, f.delivery(nil)); rep.Queued != 0 || rep.Sent != 0 {
			t.Fatalf("after restart %+v", rep)
		}
		for _, u := range []string{"u_ann", "u_pat"} {
			if n := f.box.count(u + "@home.example"); n != 1 {
				t.Errorf("%s got %d mails, want 1", u, n)
			}
		}
		if n := f.box.count("u_other@home.example"); n != 0 {
			t.Errorf("another workspace's member got %d mails", n)
		}
		msg := f.box.sent[0]
		if !strings.Contains(msg.Text, "https://custodia.test/privacy") || !strings.Contains(msg.Subject, "privacy notice") {
			t.Errorf("mail %+v lacks the link", msg)
		}
		pr := progress(t, dl, officer, "ws_a")
		if len(pr) != 1 || pr[0].Version.ID != nv || pr[0].AppliesTo != 2 || pr[0].Sent != 2 || len(pr[0].Overdue) != 0 {
			t.Fatalf("progress %+v", pr)
		}
		if want := t0.Add(60 * 24 * time.Hour); !pr[0].Deadline.Equal(want) {
			t.Errorf("deadline %v, want published + 60 days %v", pr[0].Deadline, want)
		}
	})
}

func TestNonMaterialVersionQueuesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.person("ws_a", "u_ann", "Ann", t0)
		f.publish(t, "ws_a", 1, false)
		if rep := sweep(t, f.delivery(nil)); rep.Queued != 0 || rep.Sent != 0 || len(f.box.sent) != 0 {
			t.Fatalf("non-material version: %+v, %d mails", rep, len(f.box.sent))
		}
	})
}

func TestPermanentFailureBouncesAndOverdueListsIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.person("ws_a", "u_ann", "Ann", t0)
		f.person("ws_a", "u_bad", "Bad", t0)
		f.person("ws_a", "u_slow", "Slow", t0)
		f.box.refuse["u_bad@home.example"] = true
		f.box.later["u_slow@home.example"] = true
		nv := f.publish(t, "ws_a", 1, true)
		dl := f.delivery(nil)
		rep := sweep(t, dl)
		if rep.Sent != 1 || rep.Bounced != 1 || rep.Retry != 1 {
			t.Fatalf("sweep %+v", rep)
		}
		pr := progress(t, dl, officer, "ws_a")[0]
		if pr.Bounced != 1 || pr.Queued != 1 || len(pr.Overdue) != 1 || pr.Overdue[0].UserID != "u_bad" {
			t.Fatalf("progress %+v", pr)
		}
		// The temporary failure is retried after the wait, not at once.
		if rep := sweep(t, dl); rep.Retry != 0 || rep.Sent != 0 {
			t.Fatalf("retried too soon: %+v", rep)
		}
		delete(f.box.later, "u_slow@home.example")
		*f.clock = f.clock.Add(time.Hour)
		if rep := sweep(t, dl); rep.Sent != 1 {
			t.Fatalf("retry %+v", rep)
		}
		// Past the deadline, nobody queued is left, the bounce still is.
		*f.clock = t0.Add(61 * 24 * time.Hour)
		pr = progress(t, dl, officer, "ws_a")[0]
		if len(pr.Overdue) != 1 || pr.Overdue[0].Status != notice.StatusBounced {
			t.Fatalf("overdue %+v", pr.Overdue)
		}
		// The officer gives it in person and records it.
		if err := dl.RecordDelivery(context.Background(), officer, nv, "u_bad", notice.MethodInPerson); err != nil {
			t.Fatal(err)
		}
		pr = progress(t, dl, officer, "ws_a")[0]
		if len(pr.Overdue) != 0 || pr.Delivered != 1 {
			t.Fatalf("after recording: %+v", pr)
		}
		if err := dl.RecordDelivery(context.Background(), officer, nv, "u_bad", notice.MethodPost); !errors.Is(err, notice.ErrNothingToRecord) {
			t.Fatalf("recording twice: %v", err)
		}
		// A bounce reported later makes a sent mail overdue again.
		if err := dl.RecordBounce(context.Background(), officer, nv, "u_ann"); err != nil {
			t.Fatal(err)
		}
		pr = progress(t, dl, officer, "ws_a")[0]
		if len(pr.Overdue) != 1 || pr.Overdue[0].UserID != "u_ann" {
			t.Fatalf("after a later bounce: %+v", pr.Overdue)
		}
		// Only the workspace's privacy officer or admin may read or record.
		clin := &access.Principal{UserID: "u_c", Role: access.RoleClinician, Roles: []access.Role{access.RoleClinician}, WorkspaceID: "ws_a"}
		if _, err := dl.Progress(context.Background(), clin, "ws_a"); !errors.Is(err, notice.ErrDenied) {
			t.Fatalf("clinician read progress: %v", err)
		}
		if err := dl.RecordDelivery(context.Background(), clin, nv, "u_bad", notice.MethodPost); !errors.Is(err, notice.ErrDenied) {
			t.Fatalf("clinician recorded: %v", err)
		}
	})
}

func TestAcceptingThroughTheGateCountsAsAcceptedAndAsDeliveryAtEnrolment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.person("ws_a", "u_ann", "Ann", t0.Add(-time.Hour))
		f.person("ws_a", "u_pat", "Pat", t0.Add(-time.Hour))
		nv := f.publish(t, "ws_a", 1, true)
		// Pat accepts at the gate before any mail went: no mail for Pat.
		pat := &access.Principal{UserID: "u_pat", Role: access.RolePatient, WorkspaceID: "ws_a"}
		if _, err := f.svc.Accept(ctx, pat, nv); err != nil {
			t.Fatal(err)
		}
		dl := f.delivery(nil)
		rep := sweep(t, dl)
		if rep.Sent != 1 || rep.InApp != 1 || f.box.count("u_pat@home.example") != 0 {
			t.Fatalf("sweep %+v", rep)
		}
		// Ann accepts after the mail.
		ann := &access.Principal{UserID: "u_ann", Role: access.RoleClinician, WorkspaceID: "ws_a"}
		if _, err := f.svc.Accept(ctx, ann, nv); err != nil {
			t.Fatal(err)
		}
		// Someone who joins later accepts at enrolment.
		*f.clock = t0.Add(time.Hour)
		f.person("ws_a", "u_new", "New", *f.clock)
		if _, err := f.svc.Accept(ctx, &access.Principal{UserID: "u_new", Role: access.RolePatient, WorkspaceID: "ws_a"}, nv); err != nil {
			t.Fatal(err)
		}
		rep = sweep(t, dl)
		if rep.Enrolments != 1 || rep.Sent != 0 || f.box.count("u_new@home.example") != 0 {
			t.Fatalf("after enrolment %+v", rep)
		}
		pr := progress(t, dl, officer, "ws_a")[0]
		if pr.AppliesTo != 3 || pr.Accepted != 3 || pr.Sent != 1 || pr.Delivered != 2 {
			t.Fatalf("progress %+v", pr)
		}
	})
}

func TestNoticeOfAvailabilityGoesOutAfterThreeYears(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.person("", "u_ann", "Ann", t0.Add(-time.Hour))
		f.publish(t, "", 1, true)
		dl := f.delivery(nil)
		if rep := sweep(t, dl); rep.Sent != 1 {
			t.Fatalf("material %+v", rep)
		}
		*f.clock = t0.Add(3*365*24*time.Hour - time.Hour)
		if rep := sweep(t, dl); rep.Queued != 0 {
			t.Fatalf("availability before three years: %+v", rep)
		}
		*f.clock = t0.Add(3*365*24*time.Hour + time.Hour)
		if rep := sweep(t, dl); rep.Queued != 1 || rep.Sent != 1 {
			t.Fatalf("availability %+v", rep)
		}
		last := f.box.sent[len(f.box.sent)-1]
		if last.Subject != "Our privacy notice is available" || !strings.Contains(last.Text, "available at https://custodia.test/privacy") {
			t.Fatalf("mail %+v", last)
		}
		if rep := sweep(t, dl); rep.Queued != 0 || rep.Sent != 0 {
			t.Fatalf("again %+v", rep)
		}
		// Three more years: a second one.
		*f.clock = f.clock.Add(3*365*24*time.Hour + time.Hour)
		if rep := sweep(t, dl); rep.Queued != 1 || rep.Sent != 1 {
			t.Fatalf("second availability %+v", rep)
		}
	})
}

// Two sweepers on one PostgreSQL database (two servers) mail each person once.
func TestConcurrentSweepersMailEachPersonOnce(t *testing.T) {
	d := dbtest.Postgres(t)
	f := newFixture(t, d)
	const n = 60
	for i := range n {
		id := "u_" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		f.person("", id, "Person", t0.Add(-time.Hour))
	}
	f.publish(t, "", 1, true)
	a, b := f.delivery(nil), f.delivery(nil)
	var wg sync.WaitGroup
	for _, dl := range []*notice.Delivery{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				if _, err := dl.Sweep(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range f.box.sent {
		seen[m.To]++
	}
	if len(seen) != n {
		t.Fatalf("%d people mailed, want %d", len(seen), n)
	}
	for to, c := range seen {
		if c != 1 {
			t.Errorf("%s mailed %d times", to, c)
		}
	}
}

// Through a real SMTP exchange, a 550 to RCPT TO is a bounce.
func TestSMTPRefusalMarksBounced(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
				say("220 relay.test ESMTP")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
					case "EHLO", "HELO":
						say("250 relay.test")
					case "MAIL":
						say("250 ok")
					case "RCPT":
						if strings.Contains(line, "u_bad@") {
							say("550 5.1.1 <u_bad@home.example>: no such user")
						} else {
							say("250 ok")
						}
					case "DATA":
						say("354 go ahead")
						for {
							l, err := br.ReadString('\n')
							if err != nil || l == ".\r\n" {
								break
							}
						}
						say("250 queued")
					case "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	d := dbtest.SQLite(t)
	f := newFixture(t, d)
	f.person("ws_a", "u_ann", "Ann", t0.Add(-time.Hour))
	f.person("ws_a", "u_bad", "Bad", t0.Add(-time.Hour))
	f.publish(t, "ws_a", 1, true)
	relay := &mail.SMTP{Addr: ln.Addr().String(), From: "custodia@clinic.example", Timeout: 5 * time.Second}
	rep := sweep(t, f.delivery(relay))
	if rep.Sent != 1 || rep.Bounced != 1 {
		t.Fatalf("sweep %+v", rep)
	}
	pr := progress(t, f.delivery(relay), officer, "ws_a")[0]
	if len(pr.Overdue) != 1 || pr.Overdue[0].UserID != "u_bad" || pr.Overdue[0].Status != notice.StatusBounced {
		t.Fatalf("overdue %+v", pr.Overdue)
	}
}
