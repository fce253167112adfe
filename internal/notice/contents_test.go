package notice_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/notice"
)

func TestExampleNoticeHasEveryRequiredSection(t *testing.T) {
	c := notice.CheckContents(notice.ExampleBody)
	if len(c.Missing) != 0 {
		t.Fatalf("example notice misses %v", c.Missing)
	}
	if c.ContactPerson != "Privacy Officer" || c.Telephone != "+1 555 010 0100" || !c.EffectiveDate.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("read %+v", c)
	}
}

// without removes the section headed h (up to the next "# " heading).
func without(body, h string) string {
	i := strings.Index(body, "# "+h+"\n")
	if i < 0 {
		panic(h)
	}
	j := strings.Index(body[i+2:], "\n# ")
	if j < 0 {
		return body[:i]
	}
	return body[:i] + body[i+2+j+1:]
}

func TestPublishRefusesANoticeMissingARequiredPart(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, words string
	}{
		{"no uses and disclosures", without(notice.ExampleBody, "Uses and disclosures"), "section.uses", "Uses and disclosures"},
		{"no rights", without(notice.ExampleBody, "Your rights"), "section.rights", "Your rights"},
		{"no legal duties", without(notice.ExampleBody, "Our duties"), "section.duties", "Our duties"},
		{"no complaints", without(notice.ExampleBody, "Complaints"), "section.complaints", "Complaints"},
		{"complaint to the Secretary missing", strings.Replace(notice.ExampleBody, "- To the Secretary of HHS:", "- Elsewhere:", 1), "section.complaints.to_the_secretary_of_hhs", "To the Secretary of HHS"},
		{"complaint to us missing", strings.Replace(notice.ExampleBody, "- To us:", "- Hello:", 1), "section.complaints.to_us", "To us"},
		{"no contact section", without(notice.ExampleBody, "Contact"), "section.contact", "Contact"},
		{"no contact person", strings.Replace(notice.ExampleBody, "- Contact person: Privacy Officer\n", "", 1), "section.contact.contact_person", "Contact person"},
		{"no telephone", strings.Replace(notice.ExampleBody, "- Telephone: +1 555 010 0100\n", "", 1), "section.contact.telephone", "Telephone"},
		{"telephone with no number", strings.Replace(notice.ExampleBody, "+1 555 010 0100", "call us", 1), "section.contact.telephone", "too few digits"},
		{"no effective date", without(notice.ExampleBody, "Effective date"), "section.effective", "Effective date"},
		{"unreadable effective date", strings.Replace(notice.ExampleBody, "Effective date: 2026-01-01", "Effective date: soon", 1), "section.effective.effective_date", "2026-01-31"},
		{"empty section", strings.Replace(notice.ExampleBody, "# Our duties\nThe law requires", "# Our duties\n\n# Elsewhere\nThe law requires", 1), "section.duties", "empty"},
		{"the word alone is not a section", "Uses and disclosures, your rights, our duties, complaints, contact, effective date.", "section.uses", "Uses and disclosures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *notice.Service) {
				_, err := s.Publish(context.Background(), operator, notice.NewVersion{Title: "Privacy", Body: tc.body})
				var ve *notice.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a validation error", err)
				}
				if msg := ve.Fields[tc.field]; !strings.Contains(msg, tc.words) {
					t.Fatalf("field %s = %q, want it to name %q; all: %v", tc.field, msg, tc.words, ve.Fields)
				}
				if !strings.Contains(ve.Fields["body"], "lacks contents") {
					t.Fatalf("body message = %q", ve.Fields["body"])
				}
				if _, err := s.Current(context.Background(), ""); !errors.Is(err, notice.ErrNotFound) {
					t.Fatalf("a refused notice was stored: %v", err)
				}
			})
		})
	}
}

func TestHeadingsAreMatchedByNameNotCase(t *testing.T) {
	body := strings.NewReplacer("# Your rights", "## YOUR RIGHTS:", "# Our duties", "# Our legal duties").Replace(notice.ExampleBody)
	if c := notice.CheckContents(body); len(c.Missing) != 0 {
		t.Fatalf("missing %v", c.Missing)
	}
}
