package labels_test

import (
	"testing"

	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/labels"
)

// The audit log and the consent page name a consent purpose alike.
func TestConsentPurposesReadAsOnTheConsentPage(t *testing.T) {
	for _, p := range consent.Purposes() {
		if got := labels.Purpose(string(p.Code)); got != p.Title {
			t.Errorf("purpose %s: label %q, consent page title %q", p.Code, got, p.Title)
		}
	}
}

func TestUnknownCodesStillReadAsWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{labels.Action("future.thing_done"), "Future thing done"},
		{labels.Reason("clinician"), "Clinician"},
		{labels.Purpose(""), ""},
		{labels.Phrase("file.view"), "viewed %s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
