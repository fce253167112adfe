package mail

import (
	"errors"
	"net/textproto"
)

// Header is one extra header field of a Message.
type Header struct {
	Name  string
	Value string
}

// AllowedHeaders are the only extra fields a Message may carry: the
// one-click unsubscribe of non-transactional mail (RFC 2369, RFC 8058).
// Every other field (From, To, Bcc, Content-Type...) is Format's alone, so
// a caller cannot redirect or reshape a message through Headers.
var AllowedHeaders = map[string]bool{
	"List-Unsubscribe":      true,
	"List-Unsubscribe-Post": true,
	"List-Id":               true,
}

// maxHeaderValue bounds one extra field; an unsubscribe URL is far shorter.
const maxHeaderValue = 900

// validateHeaders refuses a field not in AllowedHeaders, a repeated field,
// and any value with a line break or control character (header injection).
// Errors do not echo the value.
func validateHeaders(hs []Header) error {
	seen := map[string]bool{}
	for _, h := range hs {
		name := textproto.CanonicalMIMEHeaderKey(h.Name)
		if name != h.Name || !AllowedHeaders[name] {
			return errors.New("send mail: a header field that is not allowed")
		}
		if seen[name] {
			return errors.New("send mail: a header field given twice")
		}
		seen[name] = true
		if h.Value == "" || len(h.Value) > maxHeaderValue {
			return errors.New("send mail: a header value that is empty or too long")
		}
		for i := 0; i < len(h.Value); i++ {
			if c := h.Value[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
				return errors.New("send mail: a control character or non-ASCII byte in a header value")
			}
		}
	}
	return nil
}
