package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/notice"
)

func init() { routeSets = append(routeSets, (*Server).routesNoticeDelivery) }

// routesNoticeDelivery registers the privacy officer's page of who has been
// given the privacy notice. It names members and patients with portal
// accounts ("has an account at this practice" is PHI), so both routes are
// PHI routes, audited by the delivery service (notice.delivery_read,
// notice.delivery_record).
func (s *Server) routesNoticeDelivery(mux Mux) {
	s.phi(mux, "GET /privacy/notice-delivery", auditedByService, s.requireUser(s.noticeDeliveryPage))
	s.phi(mux, "POST /privacy/notice-delivery/record", auditedByService, s.requireSession(s.noticeDeliveryRecord))
}

// deliveryView is one notice version on the page.
type deliveryView struct {
	notice.Progress
	Overdue  []overdueView
	Recorded []recordedView
	Reached  int // sent, delivered or accepted: people who have it
	Percent  int
	PastDue  bool // the legal deadline has passed
	DaysLeft int
}

// overdueView is an overdue person, by name.
type overdueView struct {
	notice.PersonDelivery
	NoticeID string
	Name     string
	What     string // what happened, in words
	Kind     string // why the person is to be given the notice, in words
}

// recordedView is a notice given in person or by post: to whom, how, when
// and who recorded it.
type recordedView struct {
	Name, How, By string
	At            time.Time
}

type deliveryPage struct {
	Scope    string // "your practice's notice" or "the platform notice"
	Versions []deliveryView
}

// deliveryScope is the notice the viewer oversees: their workspace's, or
// the platform's for the operator.
func deliveryScope(p *access.Principal) string {
	if p.Role == access.RoleOperator {
		return ""
	}
	return p.WorkspaceID
}

func (s *Server) noticeDeliveryPage(w http.ResponseWriter, r *http.Request) {
	s.renderNoticeDelivery(w, r, http.StatusOK, r.URL.Query().Get("recorded") != "", "")
}

func (s *Server) renderNoticeDelivery(w http.ResponseWriter, r *http.Request, status int, recorded bool, msg string) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if s.delivery == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Notice delivery is not configured on this server.")
		return
	}
	scope := deliveryScope(p)
	prs, err := s.delivery.Progress(r.Context(), p, scope)
	if err != nil {
		s.noticeDeliveryError(w, r, err)
		return
	}
	pg := deliveryPage{Scope: "your practice’s privacy notice"}
	if scope == "" {
		pg.Scope = "the platform’s privacy notice"
	}
	now := time.Now()
	for _, pr := range prs {
		v := deliveryView{Progress: pr, Reached: pr.Sent + pr.Delivered}
		if pr.AppliesTo > 0 {
			v.Percent = v.Reached * 100 / pr.AppliesTo
		}
		if !pr.Deadline.IsZero() {
			v.PastDue = now.After(pr.Deadline)
			v.DaysLeft = int(time.Until(pr.Deadline).Hours() / 24)
		}
		for _, o := range pr.Overdue {
			ov := overdueView{PersonDelivery: o, NoticeID: pr.Version.ID, Name: s.person(o.UserID), Kind: deliveryKindWords[o.Kind]}
			if o.Status == notice.StatusBounced {
				ov.What = "The email bounced: the address does not receive mail."
			} else {
				ov.What = "Not sent by the deadline."
			}
			v.Overdue = append(v.Overdue, ov)
		}
		for _, o := range pr.Recorded {
			how := "In person"
			if o.Method == notice.MethodPost {
				how = "By post"
			}
			v.Recorded = append(v.Recorded, recordedView{Name: s.person(o.UserID), How: how, By: s.person(o.DeliveredBy), At: o.DeliveredAt})
		}
		pg.Versions = append(pg.Versions, v)
	}
	flash := ""
	if recorded {
		flash = "The delivery was recorded."
	}
	s.renderView(w, r, status, "notice_delivery", View{Title: "Privacy notice delivery", Data: pg, Flash: flash, Error: msg})
}

var deliveryKindWords = map[string]string{
	notice.KindMaterial:     "Changed notice",
	notice.KindAvailability: "Three-yearly reminder",
	notice.KindEnrolment:    "At enrolment",
}

func (s *Server) noticeDeliveryRecord(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if s.delivery == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Notice delivery is not configured on this server.")
		return
	}
	err := s.delivery.RecordDelivery(r.Context(), p, r.PostFormValue("notice"), r.PostFormValue("user"), r.PostFormValue("method"))
	var ve *notice.ValidationError
	switch {
	case errors.As(err, &ve):
		s.renderNoticeDelivery(w, r, http.StatusUnprocessableEntity, false, "Choose how the notice was given: in person or by post.")
		return
	case errors.Is(err, notice.ErrNothingToRecord):
		s.renderNoticeDelivery(w, r, http.StatusConflict, false, "Nothing was recorded: this person’s delivery is already recorded.")
		return
	case err != nil:
		s.noticeDeliveryError(w, r, err)
		return
	}
	http.Redirect(w, r, "/privacy/notice-delivery?recorded=1", http.StatusSeeOther)
}

func (s *Server) noticeDeliveryError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, notice.ErrDenied):
		s.forbidden(w, r, "Only the practice’s privacy officer or administrator sees who has been given the privacy notice.")
	case errors.Is(err, notice.ErrNotFound):
		s.renderError(w, r, http.StatusNotFound, "There is no such notice version.")
	case errors.Is(err, audit.ErrUnavailable):
		s.renderError(w, r, http.StatusServiceUnavailable, auditUnavailable)
	default:
		s.pageError(w, r, err)
	}
}
