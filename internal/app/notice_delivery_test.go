package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/mail"
)

// TestNoticeDeliveryReachesTheWorkspaceMembersAndItsPortalPatients runs the
// program's own delivery (identity's audience and contacts) on the demo
// practice: a material change to its notice mails each of its four members
// and the patient with a portal account once, and nobody twice.
func TestNoticeDeliveryReachesTheWorkspaceMembersAndItsPortalPatients(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = postgresSchemaURL(t)
			}
			e := apptest.New(t, dsn)
			ctx := context.Background()
			if err := e.App.LoadDemo(ctx); err != nil {
				t.Fatal(err)
			}
			ws, _, err := e.App.Identity.EnsureDemoWorkspace(ctx, app.DemoWorkspaceName, app.DemoAccounts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.App.DB.Write.Exec(`INSERT INTO notice_versions (id, workspace_id, version, material, title, body, summary, published_at, published_by)
				VALUES ('nv_app_test', $1, 1, 1, 'Notice', 'Text.', '', $2, '')`, ws, time.Now().Add(time.Second).UnixMicro()); err != nil {
				t.Fatal(err)
			}
			box := mail.NewOutbox("custodia@localhost")
			dl := e.App.NoticeDeliveryVia(box)
			for range 2 {
				if _, err := dl.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			items, err := box.List()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, it := range items {
				got[it.To]++
			}
			want := []string{app.DemoPatientAccount.Email}
			for _, m := range app.DemoAccounts {
				want = append(want, m.Email)
			}
			for _, to := range want {
				if got[to] != 1 {
					t.Errorf("%s got %d mails, want 1 (all: %v)", to, got[to], got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("mailed %v, want exactly %v", got, want)
			}
		})
	}
}

// TestServerSweepMailsANoticeAndStopsWithItsContext: the sweep serve starts
// mails a material change on its own, and ends when its context does.
func TestServerSweepMailsANoticeAndStopsWithItsContext(t *testing.T) {
	e := apptest.New(t, "")
	ctx := context.Background()
	if err := e.App.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.DB.Write.Exec(`INSERT INTO notice_versions (id, workspace_id, version, material, title, body, summary, published_at, published_by)
		VALUES ('nv_platform', '', 1, 1, 'Notice', 'Text.', '', $1, '')`, time.Now().Add(time.Second).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	e.App.Config.NoticeSweep = 20 * time.Millisecond
	sctx, stop := context.WithCancel(ctx)
	e.App.StartNoticeDelivery(sctx)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		items, err := e.App.Outbox.List()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range items {
			if it.Subject == "Our privacy notice has changed" {
				n++
			}
		}
		if n == len(app.DemoAccounts)+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's sweep mailed %d of %d accounts", n, len(app.DemoAccounts)+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop() // Close (in the test's cleanup) waits for the sweep to end
}
