package web

import (
	"errors"
	"net/http"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
)

// storeUnavailable reports whether err means the database or the audit log
// could not serve the request just now. Such a request fails closed with
// 503 (retry later), never 500 (a bug) and never as a refusal of the
// caller's credentials.
func storeUnavailable(err error) bool {
	return errors.Is(err, audit.ErrUnavailable) || db.IsUnavailable(err)
}

// unavailableMessage is all a caller learns when the store is unavailable:
// nothing of the driver's text, which can name tables and lock states.
const unavailableMessage = "The service cannot reach its database or audit log right now, so nothing was read or changed. Try again shortly; if it persists, quote the request id to support."

// unexpectedStatus is the answer for an error that a domain's mapping does
// not name: 503 when the store is unavailable, else 500. Every mapping at
// the edge ends in it, so the classification lives in one place.
func unexpectedStatus(err error) (int, string) {
	if storeUnavailable(err) {
		return http.StatusServiceUnavailable, unavailableMessage
	}
	return http.StatusInternalServerError, "An unexpected error occurred. Quote the request id to support."
}
