package identity

import (
	"bufio"
	_ "embed"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Password rules follow NIST SP 800-63B-4 §3.1.1.2: length counted in
// Unicode code points after NFKC normalisation, at least 15 when the password
// is the only factor and 8 when the account uses a second factor, up to 256,
// no composition rules and no forced rotation, and a blocklist check whose
// rejection says why.
const (
	MinPasswordSingleFactor = 15
	MinPasswordWithMFA      = 8
	MaxPassword             = 256
)

// PasswordCriteria is what the sign-up and change-password pages show
// before anyone types, one rule per line.
var PasswordCriteria = []string{
	"At least 15 characters, or at least 8 once two-step verification is on. Spaces, emoji and any language count; each character counts once.",
	"At most 256 characters.",
	"No rules about capitals, digits or symbols: a few unrelated words make a strong, memorable password.",
	"Not a commonly used or leaked password, and not one character or a keyboard run repeated.",
	"Not containing your name, your email address or the word “custodia”.",
}

//go:generate go run blocklist_gen.go
//go:embed blocklist.txt
var blocklistText string

var blocklist = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(blocklistText))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			m[w] = true
		}
	}
	return m
}()

// PasswordContext is what a password must not contain or be guessable from.
type PasswordContext struct {
	Name  string
	Email string
	MFA   bool // the account has a second factor, so 8 code points suffice
}

// normalizePassword applies NFKC so that the same password typed on
// different keyboards (composed or decomposed accents) hashes the same.
func normalizePassword(pw string) string { return norm.NFKC.String(pw) }

// CheckPassword returns nil if pw is acceptable, or an *Error whose Code
// names the rule broken and whose Message tells the person what to change.
func CheckPassword(pw string, c PasswordContext) error {
	if !utf8.ValidString(pw) {
		return invalid("password", "password_invalid", "The password contains characters that are not valid text. Type it again.")
	}
	pw = normalizePassword(pw)
	n := utf8.RuneCountInString(pw)
	min := MinPasswordSingleFactor
	if c.MFA {
		min = MinPasswordWithMFA
	}
	if n < min {
		if c.MFA {
			return invalid("password", "password_too_short", "The password must be at least 8 characters long.")
		}
		return invalid("password", "password_too_short",
			"The password must be at least 15 characters long (it has "+strconv.Itoa(n)+"). A few unrelated words together make a long password that is easy to remember.")
	}
	if n > MaxPassword {
		return invalid("password", "password_too_long", "The password must be at most 256 characters long.")
	}
	lower := strings.ToLower(pw)
	if isBlocklisted(lower) {
		return invalid("password", "password_common", "This password is on the list of commonly used or leaked passwords, which attackers try first. Choose something less predictable.")
	}
	if repetitive(lower) {
		return invalid("password", "password_repetitive", "The password repeats the same few characters. Choose something less predictable.")
	}
	if sequential(lower) {
		return invalid("password", "password_sequential", "The password is a run of consecutive characters or keys (like “123456…” or “qwerty…”). Choose something less predictable.")
	}
	if strings.Contains(lower, "custodia") {
		return invalid("password", "password_contains_product", "The password must not contain the word “custodia”.")
	}
	for _, part := range nameParts(c.Name) {
		if strings.Contains(lower, part) {
			return invalid("password", "password_contains_name", "The password must not contain your name.")
		}
	}
	for _, part := range emailParts(c.Email) {
		if strings.Contains(lower, part) {
			return invalid("password", "password_contains_email", "The password must not contain your email address or part of it.")
		}
	}
	return nil
}

// isBlocklisted matches the password, the password with separators removed,
// and the password stripped of the digits and symbols people append.
func isBlocklisted(lower string) bool {
	if blocklist[lower] {
		return true
	}
	squashed := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, lower)
	if blocklist[squashed] {
		return true
	}
	base := strings.TrimRightFunc(squashed, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	return utf8.RuneCountInString(base) >= 4 && blocklist[base]
}

// repetitive catches fewer than four distinct characters, and a unit of up
// to four characters repeated ("abcabcabc…").
func repetitive(s string) bool {
	r := []rune(s)
	distinct := map[rune]bool{}
	for _, c := range r {
		distinct[c] = true
	}
	if len(distinct) < 4 {
		return true
	}
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		same := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i-unit] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

var runs = []string{"abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p"}

// sequential catches a password that is one run along the alphabet, the
// digits or a keyboard row, forwards or backwards, wrapping around.
func sequential(s string) bool {
	for _, run := range runs {
		long := strings.Repeat(run, 1+MaxPassword/len(run))
		if strings.Contains(long, s) || strings.Contains(reverse(long), s) {
			return true
		}
	}
	return false
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// nameParts are the pieces of a name long enough to matter (3+ letters).
func nameParts(name string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if utf8.RuneCountInString(f) >= 3 {
			out = append(out, f)
		}
	}
	return out
}

// emailParts are the local part and its pieces split at . _ - + (3+ chars).
func emailParts(email string) []string {
	local, _, _ := strings.Cut(normalizeEmail(email), "@")
	if local == "" {
		return nil
	}
	out := []string{}
	if utf8.RuneCountInString(local) >= 3 {
		out = append(out, local)
	}
	for _, f := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' }) {
		if utf8.RuneCountInString(f) >= 3 && f != local {
			out = append(out, f)
		}
	}
	return out
}
