package consent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
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
	"github.com/custodia-health/custodia/internal/keys"
)

const (
	ws      = "ws_clinic"
	adult   = "pt_adult"
	minor   = "pt_minor"
	parent  = "u_parent"
	officer = "u_officer"
	doctor  = "u_doctor"
)

// env is one consent service on a real database and audit log, with a
// clock the test moves.
type env struct {
	t        *testing.T
	d        *db.DB
	log      *audit.Log
	svc      *consent.Service
	subjects *consenttest.Subjects
	blobDir  string

	mu  sync.Mutex
	now time.Time
}

var t0 = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, d, sk, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	master, _, err := keys.LoadOrCreateMaster(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	blobDir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := blob.NewLocal(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	subj := consenttest.New()
	subj.Add(adult, consenttest.Patient{WorkspaceID: ws, CareTeam: map[string]bool{doctor: true}})
	subj.Add(minor, consenttest.Patient{WorkspaceID: ws, MinorUntil: t0.AddDate(1, 0, 0), Representatives: map[string]bool{parent: true}})
	e := &env{t: t, d: d, log: l, subjects: subj, blobDir: blobDir, now: t0}
	e.svc = consent.New(d, l, keys.NewKeyring(d, master), blobs, subj)
	e.svc.SetClock(e.clock)
	if err := e.svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Seed(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// advance moves the clock and returns the new time.
func (e *env) advance(d time.Duration) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
	return e.now
}

func patientP(id string) *access.Principal {
	return &access.Principal{UserID: "u_" + id, Role: access.RolePatient, PatientID: id}
}

func representativeP(user, patient string) *access.Principal {
	return &access.Principal{UserID: user, Role: access.RoleRepresentative, PatientID: patient}
}

func memberP(user string, role access.Role) *access.Principal {
	return &access.Principal{UserID: user, Role: role, WorkspaceID: ws}
}

func (e *env) record(p *access.Principal, c consent.Change) (consent.Event, error) {
	e.t.Helper()
	if c.Method == "" {
		c.Method = consent.Portal
	}
	return e.svc.Record(context.Background(), p, c)
}

func (e *env) mustRecord(p *access.Principal, c consent.Change) consent.Event {
	e.t.Helper()
	ev, err := e.record(p, c)
	if err != nil {
		e.t.Fatalf("record %+v: %v", c, err)
	}
	return ev
}

func (e *env) allows(patient string, purpose consent.PurposeCode, at time.Time, cats ...consent.DataCategory) consent.Decision {
	e.t.Helper()
	d, err := e.svc.Allows(context.Background(), patient, purpose, at, cats...)
	if err != nil {
		e.t.Fatalf("allows: %v", err)
	}
	return d
}

func TestWithdrawalStopsFutureUseButKeepsHistory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		p := patientP(adult)
		if got := e.allows(adult, consent.ScientificResearch, t0); got.Allowed || got.Reason != consent.ReasonNoConsent {
			t.Fatalf("before any grant: %+v", got)
		}
		g := e.mustRecord(p, consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Grant})
		duringGrant := e.advance(time.Hour)
		if got := e.allows(adult, consent.ScientificResearch, duringGrant); !got.Allowed || got.Reason != consent.ReasonGranted || got.GrantID != g.ID {
			t.Fatalf("after grant: %+v", got)
		}
		e.advance(time.Hour)
		w := e.mustRecord(p, consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Withdraw})
		after := e.advance(time.Minute)
		if got := e.allows(adult, consent.ScientificResearch, after); got.Allowed || got.Reason != consent.ReasonWithdrawn {
			t.Fatalf("after withdrawal: %+v", got)
		}
		// Earlier lawful use stays lawful.
		if got := e.allows(adult, consent.ScientificResearch, duringGrant); !got.Allowed || got.GrantID != g.ID {
			t.Fatalf("at a time before the withdrawal: %+v", got)
		}
		o, err := e.svc.Overview(context.Background(), p, adult)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.History) != 2 || o.History[0].ID != w.ID || o.History[1].ID != g.ID {
			t.Fatalf("history %+v", o.History)
		}
		for _, h := range o.History {
			if h.TextVersion != 1 || h.TextID == "" || h.RecordedBy != p.UserID || h.DecidedBy != consent.ByPatient || h.Method != consent.Portal {
				t.Fatalf("history row %+v", h)
			}
		}
		// Another purpose is untouched.
		if got := e.allows(adult, consent.Marketing, after); got.Allowed {
			t.Fatalf("marketing: %+v", got)
		}
	})
}

func TestProvidingTheServiceNeedsNoConsentButImpairmentDataDoes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, pc := range []consent.PurposeCode{consent.ProvidingService, consent.MaintainingService} {
			if got := e.allows(adult, pc, t0); !got.Allowed || got.Reason != consent.ReasonNotRequired {
				t.Fatalf("%s general: %+v", pc, got)
			}
			if got := e.allows(adult, pc, t0, consent.General, consent.Impairment); got.Allowed || got.Reason != consent.ReasonNoConsent {
				t.Fatalf("%s impairment: %+v", pc, got)
			}
		}
		e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ProvidingService, Category: consent.Impairment, Action: consent.Grant})
		at := e.advance(time.Second)
		if got := e.allows(adult, consent.ProvidingService, at, consent.Impairment); !got.Allowed || got.Reason != consent.ReasonGranted {
			t.Fatalf("service impairment after grant: %+v", got)
		}
		// A general research grant does not cover impairment data.
		e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Grant})
		at = e.advance(time.Second)
		if got := e.allows(adult, consent.ScientificResearch, at); !got.Allowed {
			t.Fatalf("research general: %+v", got)
		}
		if got := e.allows(adult, consent.ScientificResearch, at, consent.General, consent.Impairment); got.Allowed {
			t.Fatalf("research impairment without its own grant: %+v", got)
		}
		// Every purpose but the two service ones needs express consent.
		for _, p := range consent.Purposes() {
			want := p.Code != consent.ProvidingService && p.Code != consent.MaintainingService
			if p.NeedsExpressConsent(consent.General) != want || !p.NeedsExpressConsent(consent.Impairment) {
				t.Errorf("%s: express general=%v", p.Code, p.NeedsExpressConsent(consent.General))
			}
			if p.Title == "" || p.Description == "" {
				t.Errorf("%s has no plain-words title or description", p.Code)
			}
		}
		if len(consent.Purposes()) != 19 {
			t.Errorf("%d purposes, want 19", len(consent.Purposes()))
		}
		if _, err := e.svc.Allows(context.Background(), adult, "astrology", at); !errors.Is(err, consent.ErrUnknownPurpose) {
			t.Fatalf("unknown purpose: %v", err)
		}
	})
}

func TestMinorCannotConsentAloneButTheirRepresentativeCan(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		research := consent.Change{PatientID: minor, Purpose: consent.ScientificResearch, Action: consent.Grant}

		if _, err := e.record(patientP(minor), research); !errors.Is(err, consent.ErrMinorNeedsRepresentative) {
			t.Fatalf("minor alone: %v", err)
		}
		if _, err := e.record(representativeP("u_stranger", minor), research); !errors.Is(err, consent.ErrNotRepresentative) {
			t.Fatalf("someone claiming to represent: %v", err)
		}
		// Staff with a paper form signed by the minor alone: refused too.
		paper := research
		paper.Method, paper.Form, paper.FormType = consent.PaperForm, strings.NewReader("%PDF-1.4 signed"), "application/pdf"
		if _, err := e.record(memberP(officer, access.RolePrivacyOfficer), paper); !errors.Is(err, consent.ErrMinorNeedsRepresentative) {
			t.Fatalf("paper form signed by the minor: %v", err)
		}
		if got := e.allows(minor, consent.ScientificResearch, e.advance(time.Second)); got.Allowed {
			t.Fatalf("refused attempts granted consent: %+v", got)
		}

		ev := e.mustRecord(representativeP(parent, minor), research)
		if ev.DecidedBy != consent.ByRepresentative || ev.Representative != parent {
			t.Fatalf("representative's grant: %+v", ev)
		}
		if got := e.allows(minor, consent.ScientificResearch, e.advance(time.Second)); !got.Allowed || got.GrantID != ev.ID {
			t.Fatalf("after the representative's grant: %+v", got)
		}
		// A paper form signed by the representative, recorded by staff.
		paper = consent.Change{PatientID: minor, Purpose: consent.Publications, Action: consent.Grant, Method: consent.PaperForm,
			Representative: parent, Form: strings.NewReader("%PDF-1.4 signed"), FormType: "application/pdf"}
		pe := e.mustRecord(memberP(officer, access.RolePrivacyOfficer), paper)
		if pe.DecidedBy != consent.ByRepresentative || pe.RecordedBy != officer || !pe.HasForm() {
			t.Fatalf("paper form by representative: %+v", pe)
		}

		// Once of age, the patient decides alone.
		e.advance(366 * 24 * time.Hour)
		if _, err := e.record(patientP(minor), consent.Change{PatientID: minor, Purpose: consent.Marketing, Action: consent.Grant}); err != nil {
			t.Fatalf("patient of age: %v", err)
		}

		// The refused attempts are in the audit log, with the purpose.
		page, err := e.log.Query(context.Background(), audit.Filter{PatientID: minor, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, en := range page.Entries {
			if en.Action == "consent.grant" && en.Decision == "deny" {
				denied++
				if en.Purpose != string(consent.ScientificResearch) || en.Outcome != "denied" || en.Reason == "" {
					t.Errorf("denied entry %+v", en.Event)
				}
			}
		}
		if denied != 3 {
			t.Fatalf("%d denied grant attempts audited, want 3", denied)
		}
	})
}

func TestConsentTextVersionRule(t *testing.T) {
	type step struct {
		material bool
		expires  time.Duration // 0: none
	}
	cases := []struct {
		name string
		// publish is called after the grant, with the grant made on version 1.
		publish    *step
		grantText  *step // if set, the grant is made on this (second) version instead
		check      time.Duration
		wantOK     bool
		wantReason string
	}{
		{name: "a non-material new version keeps the grant", publish: &step{material: false}, check: 2 * time.Hour, wantOK: true, wantReason: consent.ReasonGranted},
		{name: "a material new version stops the grant from its publication", publish: &step{material: true}, check: 2 * time.Hour, wantReason: consent.ReasonSuperseded},
		{name: "a material new version does not reach back before its publication", publish: &step{material: true}, check: 30 * time.Minute, wantOK: true, wantReason: consent.ReasonGranted},
		{name: "a grant on an expiring version counts until it expires", grantText: &step{expires: 24 * time.Hour}, check: 23 * time.Hour, wantOK: true, wantReason: consent.ReasonGranted},
		{name: "a grant on an expiring version stops at expiry", grantText: &step{expires: 24 * time.Hour}, check: 25 * time.Hour, wantReason: consent.ReasonExpired},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, d)
				ctx := context.Background()
				po := memberP(officer, access.RolePrivacyOfficer)
				// Each case uses its own patient: they share the database.
				pid := "pt_" + strings.ReplaceAll(tc.name, " ", "_")
				e.subjects.Add(pid, consenttest.Patient{WorkspaceID: ws})
				pu := consent.RegistriesStudiesTrials
				start := e.clock()
				change := consent.Change{PatientID: pid, Purpose: pu, Action: consent.Grant}
				if tc.grantText != nil {
					nt := consent.NewText{Purpose: pu, Body: "Version with an end date.", Material: true}
					if tc.grantText.expires > 0 {
						nt.ValidUntil = start.Add(tc.grantText.expires)
					}
					txt, err := e.svc.PublishText(ctx, po, nt)
					if err != nil {
						t.Fatal(err)
					}
					change.TextID = txt.ID
				}
				e.advance(time.Second)
				e.mustRecord(patientP(pid), change)
				if tc.publish != nil {
					e.advance(time.Hour)
					if _, err := e.svc.PublishText(ctx, po, consent.NewText{Purpose: pu, Body: "New wording " + tc.name, Material: tc.publish.material}); err != nil {
						t.Fatal(err)
					}
				}
				got := e.allows(pid, pu, start.Add(tc.check))
				if got.Allowed != tc.wantOK || got.Reason != tc.wantReason {
					t.Fatalf("got %+v, want allowed=%v reason=%s", got, tc.wantOK, tc.wantReason)
				}
			})
		}
	})
}

func TestGrantOnASupersededOrExpiredTextIsRefusedAndTheNewOneWorks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		po := memberP(officer, access.RolePrivacyOfficer)
		texts, err := e.svc.Texts(ctx, consent.Marketing)
		if err != nil || len(texts) != 1 {
			t.Fatalf("seeded texts %v %v", texts, err)
		}
		e.advance(time.Second)
		v2, err := e.svc.PublishText(ctx, po, consent.NewText{Purpose: consent.Marketing, Body: "Marketing, now by post too.", Material: true})
		if err != nil || v2.Version != 2 {
			t.Fatalf("publish: %+v %v", v2, err)
		}
		e.advance(time.Second)
		if _, err := e.record(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Grant, TextID: texts[0].ID}); !errors.Is(err, consent.ErrTextNotCurrent) {
			t.Fatalf("grant on superseded text: %v", err)
		}
		ev := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Grant})
		if ev.TextID != v2.ID || ev.TextVersion != 2 {
			t.Fatalf("grant took text %s v%d, want the current one", ev.TextID, ev.TextVersion)
		}
		// A withdrawal is always possible, even naming an old text.
		e.advance(time.Second)
		if _, err := e.record(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Withdraw, TextID: texts[0].ID}); err != nil {
			t.Fatalf("withdraw naming the old text: %v", err)
		}
		// Only privacy officers, admins and operators publish, and bad input says why.
		if _, err := e.svc.PublishText(ctx, memberP(doctor, access.RoleClinician), consent.NewText{Purpose: consent.Marketing, Body: "x"}); err == nil {
			t.Fatal("a clinician published a consent text")
		}
		_, err = e.svc.PublishText(ctx, po, consent.NewText{Purpose: "nope", Body: " ", ValidUntil: t0.Add(-time.Hour)})
		var ve *consent.ValidationError
		if !errors.As(err, &ve) || ve.Fields["purpose"] == "" || ve.Fields["body"] == "" || ve.Fields["valid_until"] == "" {
			t.Fatalf("invalid text: %v", err)
		}
	})
}

func TestLedgerRowsCannotBeUpdatedOrDeleted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ev := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Grant})
		ctx := context.Background()
		for _, stmt := range []string{
			`UPDATE consent_events SET action = 'withdraw' WHERE id = '` + ev.ID + `'`,
			`UPDATE consent_events SET recorded_at = 0`,
			`DELETE FROM consent_events WHERE id = '` + ev.ID + `'`,
			`DELETE FROM consent_events`,
			`UPDATE consent_texts SET body = 'something else'`,
			`DELETE FROM consent_texts WHERE id = '` + ev.TextID + `'`,
		} {
			if _, err := d.Write.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", stmt, err)
			}
		}
		var extra []string
		if d.Dialect.Name == "postgres" {
			extra = []string{`TRUNCATE consent_events`, `TRUNCATE consent_texts CASCADE`}
		} else {
			extra = []string{`INSERT OR REPLACE INTO consent_events SELECT * FROM consent_events`}
		}
		for _, stmt := range extra {
			if _, err := d.Write.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused", stmt, err)
			}
		}
		if got := e.allows(adult, consent.Marketing, e.advance(time.Second)); !got.Allowed || got.GrantID != ev.ID {
			t.Fatalf("ledger changed: %+v", got)
		}
	})
}

func TestConsentChangesAndChecksAreAuditedWithThePurpose(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		g := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Publications, Action: consent.Grant})
		actx := access.WithPrincipal(ctx, memberP(doctor, access.RoleClinician))
		dec, err := e.svc.Allows(actx, adult, consent.Publications, e.advance(time.Second))
		if err != nil || !dec.Allowed {
			t.Fatalf("allows: %+v %v", dec, err)
		}
		page, err := e.log.Query(ctx, audit.Filter{PatientID: adult})
		if err != nil {
			t.Fatal(err)
		}
		var grant, check *audit.Entry
		for i, en := range page.Entries {
			switch en.Action {
			case "consent.grant":
				grant = &page.Entries[i]
			case "consent.check":
				check = &page.Entries[i]
			}
		}
		if grant == nil || grant.Purpose != "publications" || grant.ResourceID != g.ID || grant.ActorUserID != "u_"+adult || grant.Decision != "allow" {
			t.Fatalf("grant entry %+v", grant)
		}
		if check == nil || check.Purpose != "publications" || check.ResourceID != g.ID || check.ActorUserID != doctor ||
			check.Reason != consent.ReasonGranted || check.WorkspaceID != ws {
			t.Fatalf("check entry %+v", check)
		}
		// No audit, no decision.
		e.log.Close()
		if _, err := e.svc.Allows(ctx, adult, consent.Publications, e.clock()); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("allows with the audit log down: %v", err)
		}
		if _, err := e.record(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Grant}); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("record with the audit log down: %v", err)
		}
		var n int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM consent_events`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d events after refused record (%v), want 1", n, err)
		}
	})
}

func TestConsentAccessFollowsThePolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		cases := []struct {
			name    string
			p       *access.Principal
			ok      bool
			visible bool
		}{
			{"the patient", patientP(adult), true, true},
			{"another patient", patientP(minor), false, false},
			{"the privacy officer", memberP(officer, access.RolePrivacyOfficer), true, true},
			{"a clinician on the care team", memberP(doctor, access.RoleClinician), true, true},
			{"a clinician off the care team", memberP("u_other_doc", access.RoleClinician), false, false},
			{"staff", memberP("u_staff", access.RoleStaff), false, false},
			{"a privacy officer of another workspace", &access.Principal{UserID: "u_po2", Role: access.RolePrivacyOfficer, WorkspaceID: "ws_other"}, false, false},
			{"nobody", nil, false, false},
		}
		for _, tc := range cases {
			_, err := e.svc.Overview(ctx, tc.p, adult)
			var de *consent.DeniedError
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s: %v", tc.name, err)
			case !tc.ok && !errors.As(err, &de):
				t.Errorf("%s: %v, want denied", tc.name, err)
			case !tc.ok && de.Visible != tc.visible:
				t.Errorf("%s: visible %v", tc.name, de.Visible)
			}
		}
		if _, err := e.svc.Overview(ctx, patientP("pt_nobody"), "pt_nobody"); err == nil {
			t.Fatal("overview of an unknown patient")
		}
		page, err := e.log.Query(ctx, audit.Filter{PatientID: adult, Action: string(access.ConsentRead), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != len(cases) {
			t.Fatalf("%d consent.read entries, want one per attempt (%d)", len(page.Entries), len(cases))
		}
	})
}

func TestNotesAndSignedFormsAreEncryptedWithThePatientsKey(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	ctx := context.Background()
	const noteCanary, formCanary = "CANARY-NOTE-Zebulon", "CANARY-FORM-Quetzal"
	po := memberP(officer, access.RolePrivacyOfficer)
	form := "%PDF-1.7\n" + formCanary + strings.Repeat(" signed", 20000)
	ev := e.mustRecord(po, consent.Change{PatientID: adult, Purpose: consent.PatientSafety, Action: consent.Grant,
		Method: consent.PaperForm, Form: strings.NewReader(form), FormType: "application/pdf", Note: noteCanary})
	o, err := e.svc.Overview(ctx, po, adult)
	if err != nil || len(o.History) != 1 || o.History[0].Note != noteCanary || o.History[0].FormSize != int64(len(form)) {
		t.Fatalf("overview %+v %v", o.History, err)
	}
	rc, typ, err := e.svc.Form(ctx, po, adult, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != form || typ != "application/pdf" {
		t.Fatalf("form round trip: %d bytes %s", len(got), typ)
	}
	if _, _, err := e.svc.Form(ctx, patientP(minor), adult, ev.ID); err == nil {
		t.Fatal("another patient opened the form")
	}
	e.log.Close()
	for _, dir := range []string{filepath.Dir(e.d.Path), e.blobDir} {
		_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, c := range []string{noteCanary, formCanary} {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("%s holds plaintext %s", path, c)
				}
			}
			return nil
		})
	}
}

func TestBadChangesAreRefusedAndChangeNothing(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	po := memberP(officer, access.RolePrivacyOfficer)
	cases := []struct {
		name  string
		p     *access.Principal
		c     consent.Change
		field string
	}{
		{"unknown purpose", patientP(adult), consent.Change{PatientID: adult, Purpose: "x", Action: consent.Grant}, "purpose"},
		{"unknown action", patientP(adult), consent.Change{PatientID: adult, Purpose: consent.SMS, Action: "maybe"}, "action"},
		{"unknown category", patientP(adult), consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Category: "dna"}, "category"},
		{"staff without a form", po, consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Method: consent.PaperForm}, "form"},
		{"staff clicking for the patient", po, consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Method: consent.Portal}, "method"},
		{"a form of the wrong type", po, consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Method: consent.PaperForm,
			Form: strings.NewReader("GIF89a"), FormType: "image/gif"}, "form"},
		{"an oversized form", po, consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Method: consent.PaperForm,
			Form: io.LimitReader(zeros{}, consent.MaxFormBytes+1), FormType: "application/pdf"}, "form"},
		{"an empty form", po, consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Method: consent.PaperForm,
			Form: strings.NewReader(""), FormType: "application/pdf"}, "form"},
		{"a long note", patientP(adult), consent.Change{PatientID: adult, Purpose: consent.SMS, Action: consent.Grant, Note: strings.Repeat("n", consent.MaxNoteBytes+1)}, "note"},
	}
	for _, tc := range cases {
		_, err := e.record(tc.p, tc.c)
		var ve *consent.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
			t.Errorf("%s: %v, want a reason for %s", tc.name, err, tc.field)
		}
	}
	var n int
	if err := e.d.Read.QueryRow(`SELECT COUNT(*) FROM consent_events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events (%v), want none", n, err)
	}
	_ = filepath.Walk(e.blobDir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			t.Errorf("leftover blob %s", path)
		}
		return nil
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestEveryPurposeIsInExactlyOneGroup(t *testing.T) {
	seen := map[consent.PurposeCode]string{}
	for _, g := range consent.Groups() {
		if g.Title == "" || g.Explanation == "" || len(g.Purposes) == 0 {
			t.Errorf("group %q lacks a title, an explanation or purposes", g.Key)
		}
		for _, c := range g.Purposes {
			if _, ok := consent.Lookup(c); !ok {
				t.Errorf("group %q names unknown purpose %q", g.Key, c)
			}
			if prev, dup := seen[c]; dup {
				t.Errorf("purpose %q is in groups %q and %q", c, prev, g.Key)
			}
			seen[c] = g.Key
		}
	}
	for _, p := range consent.Purposes() {
		if _, ok := seen[p.Code]; !ok {
			t.Errorf("purpose %q is in no group", p.Code)
		}
	}
}
