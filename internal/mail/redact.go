package mail

import "regexp"

// emailLike matches anything shaped like an email address.
var emailLike = regexp.MustCompile(`[^\s<>"'(),;:]+@[^\s<>"'(),;:]+`)

// RedactAddresses masks email addresses in s. Mail servers quote the
// recipient in their errors, and a patient's address must not reach a log.
func RedactAddresses(s string) string { return emailLike.ReplaceAllString(s, "<address>") }
