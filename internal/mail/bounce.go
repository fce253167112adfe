package mail

import (
	"errors"
	"fmt"
	"net/textproto"
)

// PermanentError is a message the relay refused for good (an SMTP 5xx
// reply to the recipient or the message): sending it again will not help,
// so the caller records a bounce. Temporary refusals (4xx), connection
// failures and timeouts are other errors, worth a retry. The relay's text is
// not kept: it often quotes the address.
type PermanentError struct {
	Code  int    // the SMTP reply code, 500–599
	Stage string // "RCPT TO" or "end of data"
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("send mail: %s refused permanently (SMTP %d)", e.Stage, e.Code)
}

// IsPermanent reports whether err says the message can never be delivered.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// permanent returns a *PermanentError when err is an SMTP 5xx reply, nil
// otherwise.
func permanent(stage string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 && tp.Code <= 599 {
		return &PermanentError{Code: tp.Code, Stage: stage}
	}
	return nil
}
