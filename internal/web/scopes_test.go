package web

import (
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

// TestMediaRoutesRefuseARecordsReadOnlyToken: imaging needs media:read. A
// token holding records:read alone, acting for a clinician on the care team
// who uploaded the file, is refused on every media read route; the same
// token with media:read gets through.
func TestMediaRoutesRefuseARecordsReadOnlyToken(t *testing.T) {
	f := newMediaFixture(t)
	id := f.store(t, mediatest.BinarySTL(40), 700)
	paths := []string{
		"/api/v1/files/" + id + "/meta",
		"/api/v1/files/" + id + "/view",
		"/api/v1/files/" + id + "/download",
		"/api/v1/cases/" + mediaCaseID + "/files",
	}
	f.p.SessionID, f.p.TokenID, f.p.Scopes = "", "tok-1", []string{"records:read"}
	for _, path := range paths {
		if res := f.do(t, "GET", path, nil, nil); res.StatusCode != 403 && res.StatusCode != 404 {
			t.Errorf("records:read token GET %s: %d", path, res.StatusCode)
		}
	}
	f.p.Scopes = []string{"records:read", "media:read"}
	for _, path := range paths {
		if res := f.do(t, "GET", path, nil, nil); res.StatusCode != 200 {
			t.Errorf("media:read token GET %s: %d", path, res.StatusCode)
		}
	}
	if !access.Decide(f.p, access.FileView, access.Resource{Kind: access.KindFile, WorkspaceID: "ws-1", PatientID: "pat-1", CareTeam: true}).Allow {
		t.Fatal("media:read does not grant file.view")
	}
}
