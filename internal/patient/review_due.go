package patient

import "time"

// BreakGlassReviewWithin is how long after an emergency access opens the
// privacy officer has to review it. The review queue and the officer's
// landing page show the due date it gives.
const BreakGlassReviewWithin = 7 * 24 * time.Hour

// DueAt is when the review of this emergency access is due.
func (v Review) DueAt() time.Time { return v.CreatedAt.Add(BreakGlassReviewWithin) }

// Overdue reports whether a pending review is past its due date at now.
func (v Review) Overdue(now time.Time) bool { return v.Status == "pending" && now.After(v.DueAt()) }
