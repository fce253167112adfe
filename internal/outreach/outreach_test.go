package outreach_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/consent/consenttest"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/ids"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/outreach"
)

const ws = "ws_clinic"

var (
	ann   = "pt_" + ids.New() // grants marketing
	bea   = "pt_" + ids.New() // grants, then withdraws just before her turn
	cal   = "pt_" + ids.New() // never grants
	admin = &access.Principal{UserID: "u_admin", Role: access.RoleAdmin, WorkspaceID: ws}
)

type directory struct{ rs []outreach.Recipient }

func (d directory) PatientMailboxes(context.Context, string) ([]outreach.Recipient, error) {
	return d.rs, nil
}
func (d directory) WorkspaceName(context.Context, string) (string, error) {
	return "Lakeside Clinic", nil
}
func (d directory) PatientWorkspace(_ context.Context, id string) (string, error) {
	for _, r := range d.rs {
		if r.PatientID == id {
			return ws, nil
		}
	}
	return "", errors.New("no such patient")
}

// failingMailer fails for one address.
type failingMailer struct {
	mail.Mailer
	fail string
}

func (f failingMailer) Send(ctx context.Context, m mail.Message) error {
	if m.To == f.fail {
		return errors.New("550 mailbox " + m.To + " unavailable")
	}
	return f.Mailer.Send(ctx, m)
}

type env struct {
	log     *audit.Log
	consent *consent.Service
	outbox  *mail.Outbox
	svc     *outreach.Service
	signer  *outreach.Signer
}

func newEnv(t *testing.T, d *db.DB) *env {
	ctx := context.Background()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.Open(ctx, d, sk, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	master, _, err := keys.LoadOrCreateMaster(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	kr := keys.NewKeyring(d, master)
	blobs, _ := blob.NewLocal(t.TempDir())
	subj := consenttest.New()
	for _, p := range []string{ann, bea, cal} {
		subj.Add(p, consenttest.Patient{WorkspaceID: ws})
	}
	cs := consent.New(d, l, kr, blobs, subj)
	if err := cs.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := kr.SystemSecret(ctx, "unsubscribe")
	if err != nil {
		t.Fatal(err)
	}
	sg, err := outreach.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ob := mail.NewOutbox("news@clinic.example")
	dir := directory{rs: []outreach.Recipient{{ann, "Ann Archer", "ann@home.example"}, {bea, "Bea Baker", "bea@home.example"}, {cal, "Cal Cole", "cal@home.example"}}}
	e := &env{log: l, consent: cs, outbox: ob, signer: sg}
	e.svc = outreach.New(d, l, cs, dir, ob, sg, outreach.Options{BaseURL: "https://custodia.test/"})
	for _, p := range []string{ann, bea} {
		if _, err := cs.Record(ctx, &access.Principal{UserID: "u_" + p, Role: access.RolePatient, PatientID: p},
			consent.Change{PatientID: p, Purpose: consent.Marketing, Action: consent.Grant, Method: consent.Portal}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) entries(t *testing.T, action string) []audit.Entry {
	t.Helper()
	pg, err := e.log.Query(context.Background(), audit.Filter{WorkspaceID: ws, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, a := range pg.Entries {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

func TestNewsGoesOnlyToPatientsWhoseMarketingConsentStandsAtTheirTurn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		aud, err := e.svc.Preview(ctx, admin, ws)
		if err != nil || aud.WithMailbox != 3 || aud.Consenting != 2 {
			t.Fatalf("preview %+v %v", aud, err)
		}
		c, err := e.svc.Compose(ctx, admin, ws, outreach.News{Subject: "Our new opening hours", Text: "From March we open at 8."})
		if err != nil {
			t.Fatal(err)
		}
		// Bea withdraws after the preview, just before her message goes.
		outreach.BeforeEach(e.svc, func(pid string) {
			if pid == bea {
				if _, err := e.consent.RecordUnsubscribe(ctx, bea, consent.Marketing); err != nil {
					t.Error(err)
				}
			}
		})
		if err := e.svc.Send(ctx, admin, ws, c.ID); err != nil {
			t.Fatal(err)
		}
		e.svc.Wait()
		got, err := e.svc.Campaign(ctx, admin, ws, c.ID)
		if err != nil || got.Status != outreach.Done || got.Total != 3 || got.Sent != 1 || got.Excluded != 2 || got.Failed != 0 || got.Handled() != 3 {
			t.Fatalf("campaign %+v %v", got, err)
		}
		items, _ := e.outbox.List()
		if len(items) != 1 || items[0].To != "ann@home.example" {
			t.Fatalf("mail went to %+v", items)
		}
		m := items[0]
		if m.ListUnsubscribePost != "List-Unsubscribe=One-Click" || !strings.HasPrefix(m.ListUnsubscribe, "<https://custodia.test/unsubscribe/") ||
			!strings.Contains(m.Text, strings.Trim(m.ListUnsubscribe, "<>")) || !strings.Contains(m.Text, "From March we open at 8.") ||
			!strings.Contains(m.Text, "Hello Ann Archer") {
			t.Fatalf("message %+v", m)
		}
		rs, err := e.svc.Recipients(ctx, admin, ws, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ann: "sent/", bea: "excluded/" + consent.ReasonWithdrawn, cal: "excluded/" + consent.ReasonNoConsent}
		for _, r := range rs {
			if want[r.PatientID] != r.Status+"/"+r.Reason {
				t.Errorf("%s: %s/%s, want %s", r.PatientID, r.Status, r.Reason, want[r.PatientID])
			}
			delete(want, r.PatientID)
		}
		if len(want) != 0 {
			t.Errorf("not recorded: %v", want)
		}
		if es := e.entries(t, "outreach.mail"); len(es) != 1 || es[0].PatientID != ann || es[0].Purpose != "marketing" || es[0].ActorUserID != "u_admin" {
			t.Fatalf("outreach.mail entries %+v", es)
		}
		if len(e.entries(t, "outreach.send")) != 1 || len(e.entries(t, "outreach.compose")) != 1 {
			t.Fatal("send or compose not audited")
		}
		// Sent once only.
		if err := e.svc.Send(ctx, admin, ws, c.ID); !errors.Is(err, outreach.ErrAlreadySent) {
			t.Fatalf("second send: %v", err)
		}
	})
}

func TestOnlyTheWorkspacesAdminsSendNews(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		for name, p := range map[string]*access.Principal{
			"clinician":       {UserID: "u_doc", Role: access.RoleClinician, WorkspaceID: ws},
			"privacy officer": {UserID: "u_po", Role: access.RolePrivacyOfficer, WorkspaceID: ws},
			"other admin":     {UserID: "u_adm2", Role: access.RoleAdmin, WorkspaceID: "ws_other"},
			"patient":         {UserID: "u_pt", Role: access.RolePatient, PatientID: ann},
			"nobody":          nil,
		} {
			if _, err := e.svc.Compose(ctx, p, ws, outreach.News{Subject: "x", Text: "y"}); !errors.As(err, new(outreach.DeniedError)) {
				t.Errorf("%s compose: %v", name, err)
			}
			if _, err := e.svc.Preview(ctx, p, ws); !errors.As(err, new(outreach.DeniedError)) {
				t.Errorf("%s preview: %v", name, err)
			}
		}
		for _, a := range e.entries(t, "outreach.compose") {
			if a.Decision != "deny" || a.Reason != "not_workspace_admin" {
				t.Errorf("entry %+v", a)
			}
		}
		if n := len(e.entries(t, "outreach.compose")); n != 5 {
			t.Errorf("%d denied compose entries, want 5", n)
		}
	})
}

func TestAMessageNeedsASubjectAndText(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, n := range []outreach.News{{"", "x"}, {"x", ""}, {"a\nb", "x"}, {strings.Repeat("s", 151), "x"}, {"x", strings.Repeat("t", 20001)}, {"x", "a\x00b"}} {
			var ve *outreach.ValidationError
			if _, err := e.svc.Compose(context.Background(), admin, ws, n); !errors.As(err, &ve) {
				t.Errorf("%q accepted: %v", n.Subject, err)
			}
		}
	})
}

func TestAFailedDeliveryIsRecordedAndTheAddressNotLogged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		var logged strings.Builder
		var mu sync.Mutex
		lg := newLogger(&logged, &mu)
		svc := outreach.New(d, e.log, e.consent, directory{rs: []outreach.Recipient{{ann, "Ann", "ann@home.example"}}},
			failingMailer{Mailer: e.outbox, fail: "ann@home.example"}, e.signer, outreach.Options{BaseURL: "https://custodia.test", Log: lg})
		c, err := svc.Compose(ctx, admin, ws, outreach.News{Subject: "Hi", Text: "News"})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Send(ctx, admin, ws, c.ID); err != nil {
			t.Fatal(err)
		}
		svc.Wait()
		got, _ := svc.Campaign(ctx, admin, ws, c.ID)
		if got.Failed != 1 || got.Sent != 0 || got.Status != outreach.Done {
			t.Fatalf("campaign %+v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(logged.String(), "ann@") || !strings.Contains(logged.String(), "not delivered") {
			t.Fatalf("log %q", logged.String())
		}
	})
}

func TestUnsubscribeTokensCannotBeForgedAndHoldNoAddress(t *testing.T) {
	key := make([]byte, 32)
	s, _ := outreach.NewSigner(key)
	other, _ := outreach.NewSigner(append(make([]byte, 31), 1))
	tok := s.Token(ann, consent.Marketing)
	if pid, pu, err := s.Verify(tok); err != nil || pid != ann || pu != consent.Marketing {
		t.Fatalf("round trip %q %q %v", pid, pu, err)
	}
	if strings.Contains(tok, "@") || strings.Contains(tok, "home.example") || len(tok) > outreach.MaxTokenLen {
		t.Fatalf("token %q", tok)
	}
	p64, m64, _ := strings.Cut(tok, ".")
	forged := []string{
		"", ".", tok + "x", "x" + tok, p64, p64 + ".", "." + m64,
		other.Token(ann, consent.Marketing),                                       // another key
		s.Token(ann, consent.ScientificResearch),                                  // not an unsubscribable purpose
		s.Token("Ann Archer", consent.Marketing),                                  // not an id
		strings.Replace(tok, p64, encode(fmt.Sprintf("u1.%s.marketing", bea)), 1), // payload swapped
		strings.Repeat("a", 300),
	}
	for _, f := range forged {
		if _, _, err := s.Verify(f); !errors.Is(err, outreach.ErrBadToken) {
			t.Errorf("accepted %q", f)
		}
	}
}

func TestPeekChangesNothingAndUnsubscribeWithdraws(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		tok := e.signer.Token(ann, consent.Marketing)
		u, err := e.svc.Peek(ctx, tok)
		if err != nil || u.WorkspaceName != "Lakeside Clinic" || u.PatientID != ann {
			t.Fatalf("peek %+v %v", u, err)
		}
		time.Sleep(time.Millisecond)
		if dec, _ := e.consent.Allows(ctx, ann, consent.Marketing, time.Now()); !dec.Allowed {
			t.Fatal("peek withdrew consent")
		}
		if _, err := e.svc.Unsubscribe(ctx, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if dec, _ := e.consent.Allows(ctx, ann, consent.Marketing, time.Now()); dec.Allowed || dec.Reason != consent.ReasonWithdrawn {
			t.Fatalf("after unsubscribe %+v", dec)
		}
		if _, err := e.svc.Unsubscribe(ctx, tok+"x"); !errors.Is(err, outreach.ErrBadToken) {
			t.Fatalf("forged: %v", err)
		}
	})
}
