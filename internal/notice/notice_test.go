package notice_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/notice"
)

func newService(t *testing.T, d *db.DB) *notice.Service {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.Open(context.Background(), d, sk, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return notice.New(d, l)
}

var (
	operator = &access.Principal{UserID: "u_op", Role: access.RoleOperator}
	wsAdmin  = &access.Principal{UserID: "u_admin", Role: access.RoleAdmin, WorkspaceID: "ws_a"}
	alice    = &access.Principal{UserID: "u_alice", Role: access.RoleClinician, WorkspaceID: "ws_a"}
	bob      = &access.Principal{UserID: "u_bob", Role: access.RolePatient, PatientID: "pt_b"}
)

func ids(vs []notice.Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestMaterialVersionsMustBeAcceptedAndOthersHoldNoOne(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		pending := func(p *access.Principal) []string {
			t.Helper()
			vs, err := s.Pending(ctx, p.UserID, p.WorkspaceID)
			if err != nil {
				t.Fatal(err)
			}
			return ids(vs)
		}
		if got := pending(alice); got != nil {
			t.Fatalf("no notice yet, pending %v", got)
		}
		// A non-material first version holds no one.
		if _, err := s.Publish(ctx, operator, notice.NewVersion{Title: "Privacy", Body: notice.ExampleBody + "Draft wording."}); err != nil {
			t.Fatal(err)
		}
		if got := pending(alice); got != nil {
			t.Fatalf("non-material version holds: %v", got)
		}
		v2, err := s.Publish(ctx, operator, notice.NewVersion{Title: "Privacy", Body: notice.ExampleBody + "We now share with X.", Material: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := pending(alice); !reflect.DeepEqual(got, []string{v2.ID}) {
			t.Fatalf("after material v2: %v", got)
		}
		w1, err := s.Publish(ctx, wsAdmin, notice.NewVersion{WorkspaceID: "ws_a", Title: "Clinic A", Body: notice.ExampleBody + "Clinic text.", Material: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := pending(alice); !reflect.DeepEqual(got, []string{v2.ID, w1.ID}) {
			t.Fatalf("platform + workspace: %v", got)
		}
		if got := pending(bob); !reflect.DeepEqual(got, []string{v2.ID}) {
			t.Fatalf("a patient outside the workspace: %v", got)
		}
		for _, id := range []string{v2.ID, w1.ID} {
			if _, err := s.Accept(ctx, alice, id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Accept(ctx, alice, v2.ID); err != nil {
			t.Fatalf("accepting twice: %v", err)
		}
		if got := pending(alice); got != nil {
			t.Fatalf("after accepting: %v", got)
		}
		// A non-material v3 does not hold Alice, who accepted v2.
		v3, err := s.Publish(ctx, operator, notice.NewVersion{Title: "Privacy", Body: notice.ExampleBody + "We now share with X. (typo fixed)"})
		if err != nil {
			t.Fatal(err)
		}
		if got := pending(alice); got != nil {
			t.Fatalf("non-material v3 holds: %v", got)
		}
		// Bob never accepted: he must accept the current version, v3.
		if got := pending(bob); !reflect.DeepEqual(got, []string{v3.ID}) {
			t.Fatalf("bob: %v", got)
		}
		if _, err := s.Accept(ctx, bob, v2.ID); !errors.Is(err, notice.ErrNotCurrent) {
			t.Fatalf("accepting an outdated version: %v", err)
		}
		if _, err := s.Accept(ctx, bob, w1.ID); !errors.Is(err, notice.ErrNotFound) {
			t.Fatalf("accepting another workspace's notice: %v", err)
		}
		if _, err := s.Accept(ctx, bob, v3.ID); err != nil {
			t.Fatal(err)
		}
		if got := pending(bob); got != nil {
			t.Fatalf("bob after accepting v3: %v", got)
		}
		// A material v4 holds both again.
		v4, err := s.Publish(ctx, operator, notice.NewVersion{Title: "Privacy", Body: notice.ExampleBody + "New processor.", Material: true, Summary: "We added a processor."})
		if err != nil {
			t.Fatal(err)
		}
		if got := pending(alice); !reflect.DeepEqual(got, []string{v4.ID}) {
			t.Fatalf("alice after v4: %v", got)
		}
		acc, err := s.Acceptances(ctx, alice.UserID)
		if err != nil || len(acc) != 2 {
			t.Fatalf("acceptances %v %v", acc, err)
		}
	})
}

func TestOnlyTheOperatorOrTheWorkspacesOfficersPublish(t *testing.T) {
	s := newService(t, dbtest.SQLite(t))
	ctx := context.Background()
	cases := []struct {
		p  *access.Principal
		ws string
		ok bool
	}{
		{operator, "", true},
		{wsAdmin, "", false},
		{wsAdmin, "ws_a", true},
		{wsAdmin, "ws_b", false},
		{&access.Principal{UserID: "u_po", Role: access.RolePrivacyOfficer, WorkspaceID: "ws_a"}, "ws_a", true},
		{alice, "ws_a", false},
		{bob, "", false},
		{nil, "", false},
	}
	for i, tc := range cases {
		_, err := s.Publish(ctx, tc.p, notice.NewVersion{WorkspaceID: tc.ws, Title: "T", Body: notice.ExampleBody + "B"})
		if (err == nil) != tc.ok {
			t.Errorf("case %d: %v", i, err)
		}
		_, err = s.AddProcessor(ctx, tc.p, notice.Processor{WorkspaceID: tc.ws, Name: "N", Purpose: "P", DataCategories: "D", Location: "L"})
		if (err == nil) != tc.ok {
			t.Errorf("processor case %d: %v", i, err)
		}
	}
	_, err := s.Publish(ctx, operator, notice.NewVersion{Title: " ", Body: "x\x00"})
	var ve *notice.ValidationError
	if !errors.As(err, &ve) || ve.Fields["title"] == "" || ve.Fields["body"] == "" {
		t.Fatalf("bad input: %v", err)
	}
}

func TestProcessorRegistry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		a, err := s.AddProcessor(ctx, operator, notice.Processor{Name: "Mailer Inc", Purpose: "Sending email", BAA: true, DataCategories: "email address", Location: "EU"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddProcessor(ctx, operator, notice.Processor{Name: "Backup Co", Purpose: "Backups", DataCategories: "encrypted backups", Location: "US"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.Processors(ctx, "")
		if err != nil || len(list) != 2 || list[0].Name != "Backup Co" || !list[1].BAA {
			t.Fatalf("list %+v %v", list, err)
		}
		if err := s.RetireProcessor(ctx, wsAdmin, a.ID); !errors.Is(err, notice.ErrDenied) {
			t.Fatalf("workspace admin retiring a platform processor: %v", err)
		}
		if err := s.RetireProcessor(ctx, operator, a.ID); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.Processors(ctx, ""); len(list) != 1 {
			t.Fatalf("after retiring: %+v", list)
		}
		_, err = s.AddProcessor(ctx, operator, notice.Processor{Name: "x"})
		var ve *notice.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 3 {
			t.Fatalf("missing fields: %v", err)
		}
	})
}

func TestNoticesAndAcceptancesCannotBeChanged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		v, err := s.Publish(ctx, operator, notice.NewVersion{Title: "P", Body: notice.ExampleBody + "B", Material: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, alice, v.ID); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			`UPDATE notice_versions SET body = 'other'`,
			`DELETE FROM notice_versions`,
			`UPDATE notice_acceptances SET accepted_at = 0`,
			`DELETE FROM notice_acceptances`,
		} {
			if _, err := d.Write.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused", stmt, err)
			}
		}
	})
}

func TestParseNoticeText(t *testing.T) {
	body := "# Who we are\nWe run Custodia.\nWe are nice.\n\n## What we collect\n- your name\n* your records\n\n<script>alert(1)</script>\n"
	want := []notice.Block{
		{Kind: "h2", Text: "Who we are"},
		{Kind: "p", Text: "We run Custodia. We are nice."},
		{Kind: "h3", Text: "What we collect"},
		{Kind: "ul", Items: []string{"your name", "your records"}},
		{Kind: "p", Text: "<script>alert(1)</script>"}, // text; the template escapes it
	}
	if got := notice.Parse(body); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "# a\n\nb\n- c\n- d", "##\n#\n- \n*", "\r\n\r\nx\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, b := range notice.Parse(s) {
			switch b.Kind {
			case "h2", "h3", "p":
				if b.Text == "" || (utf8.ValidString(s) && !utf8.ValidString(b.Text)) {
					t.Fatalf("bad block %#v", b)
				}
			case "ul":
				if len(b.Items) == 0 {
					t.Fatalf("empty list")
				}
			default:
				t.Fatalf("unknown kind %q", b.Kind)
			}
		}
	})
}
