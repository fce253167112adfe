package identity

import "testing"

func TestMailErrorsLoseAddressesBeforeLogging(t *testing.T) {
	got := emailLike.ReplaceAllString(`smtp: 550 5.1.1 <anna.patient@example.org>: Recipient address rejected`, "<address>")
	if got != `smtp: 550 5.1.1 <<address>>: Recipient address rejected` {
		t.Fatalf("got %q", got)
	}
}
