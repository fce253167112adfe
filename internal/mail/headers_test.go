package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/mail"
)

var unsubscribe = []mail.Header{
	{Name: "List-Unsubscribe", Value: "<https://custodia.test/unsubscribe/tok123>"},
	{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"},
}

func TestFormatWritesTheUnsubscribeHeaders(t *testing.T) {
	raw, err := mail.Format("custodia@clinic.example", mail.Message{To: "ada@home.example", Subject: "News", Text: "Hello\n", Headers: unsubscribe}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, want := range []string{
		"\r\nList-Unsubscribe: <https://custodia.test/unsubscribe/tok123>\r\n",
		"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
	} {
		if !strings.Contains(head+"\r\n", want) {
			t.Errorf("header %q missing in\n%s", want, head)
		}
	}
	it, err := mail.Parse("m", strings.NewReader(string(raw)))
	if err != nil || it.ListUnsubscribe != unsubscribe[0].Value || it.ListUnsubscribePost != unsubscribe[1].Value {
		t.Fatalf("parsed %+v %v", it, err)
	}
	// Transactional mail carries no such field.
	raw, _ = mail.Format("custodia@clinic.example", mail.Message{To: "ada@home.example", Subject: "Reset", Text: "x"}, time.Unix(0, 0))
	if strings.Contains(string(raw), "List-Unsubscribe") {
		t.Fatal("a message without Headers has an unsubscribe field")
	}
}

func TestExtraHeadersAreRefusedUnlessAllowedAndClean(t *testing.T) {
	for name, hs := range map[string][]mail.Header{
		"bcc":               {{Name: "Bcc", Value: "eve@evil.example"}},
		"from":              {{Name: "From", Value: "boss@clinic.example"}},
		"content type":      {{Name: "Content-Type", Value: "text/html"}},
		"lower case":        {{Name: "list-unsubscribe", Value: "<https://x.test/u>"}},
		"line break":        {{Name: "List-Unsubscribe", Value: "<https://x.test/u>\r\nBcc: eve@evil.example"}},
		"bare newline":      {{Name: "List-Unsubscribe", Value: "<https://x.test/u>\nBcc: eve@evil.example"}},
		"nul":               {{Name: "List-Unsubscribe", Value: "<https://x.test/u>\x00"}},
		"non-ascii":         {{Name: "List-Id", Value: "Café <news.x.test>"}},
		"empty":             {{Name: "List-Id", Value: ""}},
		"too long":          {{Name: "List-Unsubscribe", Value: "<https://x.test/" + strings.Repeat("a", 1000) + ">"}},
		"twice":             {unsubscribe[0], unsubscribe[0]},
		"name with a colon": {{Name: "List-Unsubscribe: x", Value: "y"}},
	} {
		if _, err := mail.Format("custodia@clinic.example", mail.Message{To: "ada@home.example", Subject: "x", Text: "y", Headers: hs}, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "eve@") {
			t.Errorf("%s: the error echoes the value: %v", name, err)
		}
	}
}

// The unsubscribe fields survive the real SMTP path (net/smtp to the
// loopback relay the other SMTP tests use).
func TestSMTPCarriesTheUnsubscribeHeaders(t *testing.T) {
	r := startRelay(t)
	s := &mail.SMTP{Addr: r.ln.Addr().String(), From: "custodia@clinic.example", Timeout: 5 * time.Second}
	if err := s.Send(context.Background(), mail.Message{To: "ada@home.example", Subject: "News from the clinic", Text: "Hello\n", Headers: unsubscribe}); err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	it, err := mail.Parse("m", strings.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	if it.ListUnsubscribe != unsubscribe[0].Value || it.ListUnsubscribePost != "List-Unsubscribe=One-Click" || it.Subject != "News from the clinic" {
		t.Fatalf("relayed %+v", it)
	}
}
