package identity

import (
	"testing"

	"github.com/custodia-health/custodia/internal/mail"
)

func TestMailErrorsLoseAddressesBeforeLogging(t *testing.T) {
	got := mail.RedactAddresses(`smtp: 550 5.1.1 <anna.patient@example.org>: Recipient address rejected`)
	if got != `smtp: 550 5.1.1 <<address>>: Recipient address rejected` {
		t.Fatalf("got %q", got)
	}
}
