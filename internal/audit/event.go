// Package audit keeps the tamper-evident record of every PHI access and every
// authentication event. Entries hold ids and codes, never names or other PHI.
package audit

import (
	"context"
	"time"
)

// Event is one thing that happened, as the audit log records it.
type Event struct {
	Time         time.Time // set by Append when zero
	ActorUserID  string    // the user, or "" for an anonymous attempt
	ActorTokenID string    // the API token, when one authenticated the request
	ActorRole    string    // the actor's role at the time (access.Role)
	WorkspaceID  string    // the workspace the access happened in
	OnBehalfOf   string    // the user a representative or delegate acted for
	Action       string    // dotted verb, e.g. "patient.read", "auth.signin"
	ResourceType string    // e.g. "patient", "case", "file", "user"
	ResourceID   string    // the id of the resource
	PatientID    string    // whose PHI, when the resource is PHI
	Purpose      string    // purpose of use code, e.g. "treatment"
	Decision     string    // "allow" or "deny"
	Reason       string    // the access policy's reason code
	BreakGlass   bool      // emergency access outside normal rights
	ClientAddr   string    // the client's address
	RequestID    string    // the request id, to join with logs
	Outcome      string    // "success", "failure" or "denied"
}

// Receipt proves that an entry was durably written. Only a successful Append
// returns a valid one, and the functions that decrypt PHI demand one, so a
// code path that forgets to audit cannot read PHI.
type Receipt struct {
	seq       int64
	patientID string
}

// Valid reports whether r came from a successful Append.
func (r Receipt) Valid() bool { return r.seq > 0 }

// Seq is the entry's position in the log.
func (r Receipt) Seq() int64 { return r.seq }

// Covers reports whether r records an access to patientID's PHI. A receipt
// for an entry without a patient (a sign-in, say) covers no one.
func (r Receipt) Covers(patientID string) bool {
	return r.seq > 0 && patientID != "" && r.patientID == patientID
}

// Appender durably records events. *Log implements it; other packages depend
// on this interface so that they need not know how the log is kept.
type Appender interface {
	Append(ctx context.Context, e Event) (Receipt, error)
}
