package patient

import (
	"errors"
	"sort"
	"strings"

	"github.com/custodia-health/custodia/internal/audit"
)

// The errors services in this package and in casefile return. The web layer
// maps each to one status: ErrNotFound 404, ErrForbidden 403, ErrInvalid 422,
// ErrConflict 409, audit.ErrUnavailable 503. None of them carries PHI.
var (
	// ErrNotFound means the record does not exist or the principal may not
	// know that it does (a denied, invisible resource looks the same).
	ErrNotFound = errors.New("not found")
	// ErrForbidden means the principal may see the record exists but may
	// not do this to it.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid means the input was refused; errors.As an *InvalidError
	// for the reasons per field.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the record changed since the caller read it.
	ErrConflict = errors.New("the record was changed by someone else; reload and try again")
	// ErrNotConfigured means a collaborator this action needs (the
	// identity mailer) is not wired in yet.
	ErrNotConfigured = errors.New("not configured")
	// ErrUnavailable is the audit log's: no entry, no data.
	ErrUnavailable = audit.ErrUnavailable
)

// InvalidError names each refused field and why, in words a user can act on.
// Reasons never echo the value, so they are safe to log and show.
type InvalidError struct {
	Fields map[string]string
}

func (e *InvalidError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	return "invalid input: " + strings.Join(names, ", ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns an *InvalidError for one field.
func Invalid(field, reason string) error {
	return &InvalidError{Fields: map[string]string{field: reason}}
}

// fieldErrors collects reasons while validating.
type fieldErrors map[string]string

func (f fieldErrors) add(field, reason string) {
	if _, ok := f[field]; !ok {
		f[field] = reason
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &InvalidError{Fields: f}
}
