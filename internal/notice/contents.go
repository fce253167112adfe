package notice

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// A notice declares the contents 45 CFR 164.520(b) requires as headings
// with fixed names, and the facts a check must read (the contact person, the
// telephone number, where to complain, the effective date) as "Label: value"
// lines inside those sections. The check is therefore exact and can say
// which section or line is missing, instead of guessing from keywords.

// Section is one required part of a notice.
type Section struct {
	Key     string   // field name in a validation error: "section.rights"
	Heading string   // the heading the notice must carry ("# " or "## ")
	Aliases []string // other accepted headings, compared case-insensitively
	Lines   []string // "Label:" lines the section must contain, each with a value
	What    string   // what the rule asks for, in words
}

// RequiredSections are the contents every published notice must have.
var RequiredSections = []Section{
	{Key: "section.uses", Heading: "Uses and disclosures", Aliases: []string{"How we use and disclose your information", "How we may use and disclose health information"},
		What: "how health information may be used and disclosed"},
	{Key: "section.rights", Heading: "Your rights", Aliases: []string{"Your rights over your health information"},
		What: "the rights the individual has over their health information"},
	{Key: "section.duties", Heading: "Our duties", Aliases: []string{"Our legal duties", "Our responsibilities"},
		What: "our legal duties to protect health information and to follow this notice"},
	{Key: "section.complaints", Heading: "Complaints", Aliases: []string{"How to complain"}, Lines: []string{"To us", "To the Secretary of HHS"},
		What: "how to complain to us and to the Secretary of Health and Human Services"},
	{Key: "section.contact", Heading: "Contact", Aliases: []string{"Contact person", "Who to contact"}, Lines: []string{"Contact person", "Telephone"},
		What: "a contact person or office (name or title) and a telephone number"},
	{Key: "section.effective", Heading: "Effective date", Lines: []string{"Effective date"},
		What: "the date the notice takes effect"},
}

// Contents is what the check read from a notice body.
type Contents struct {
	ContactPerson string
	Telephone     string
	EffectiveDate time.Time // zero when missing or unreadable
	// Missing maps a section's or line's field name to what is wrong, in
	// words; empty when the notice has every required part.
	Missing map[string]string
}

var dateLayouts = []string{"2006-01-02", "2 January 2006", "January 2, 2006", "2 Jan 2006", "Jan 2, 2006"}

func normHeading(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
	return strings.Join(strings.Fields(s), " ")
}

var labelLine = regexp.MustCompile(`^(?:[-*] )?\s*([^:]{1,60}):\s*(.*)$`)

// CheckContents reads a notice body and reports which required parts are
// missing. A section counts when its heading is present and some text
// follows it before the next heading of the same or a higher level.
func CheckContents(body string) Contents {
	c := Contents{Missing: map[string]string{}}
	type found struct {
		text  bool
		lines map[string]string
	}
	byHeading := map[string]int{}
	for i, sec := range RequiredSections {
		byHeading[normHeading(sec.Heading)] = i
		for _, a := range sec.Aliases {
			byHeading[normHeading(a)] = i
		}
	}
	got := map[int]*found{}
	cur, curLevel := -1, 0
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		level := 0
		switch {
		case strings.HasPrefix(line, "## "):
			level = 2
		case strings.HasPrefix(line, "# "):
			level = 1
		}
		if level > 0 {
			h := normHeading(line[level+1:])
			if i, ok := byHeading[h]; ok {
				cur, curLevel = i, level
				if got[i] == nil {
					got[i] = &found{lines: map[string]string{}}
				}
			} else if cur >= 0 && level <= curLevel {
				cur = -1 // a sibling heading ends the section
			}
			continue
		}
		if cur < 0 || line == "" {
			continue
		}
		f := got[cur]
		f.text = true
		if m := labelLine.FindStringSubmatch(line); m != nil {
			k := normHeading(m[1])
			if _, dup := f.lines[k]; !dup {
				f.lines[k] = strings.TrimSpace(m[2])
			}
		}
	}
	for i, sec := range RequiredSections {
		f := got[i]
		if f == nil {
			c.Missing[sec.Key] = fmt.Sprintf("Add a section headed “# %s” that describes %s.", sec.Heading, sec.What)
			continue
		}
		if !f.text {
			c.Missing[sec.Key] = fmt.Sprintf("The section “%s” is empty: describe %s.", sec.Heading, sec.What)
			continue
		}
		for _, l := range sec.Lines {
			v := f.lines[normHeading(l)]
			key := sec.Key + "." + LineKey(l)
			if v == "" {
				c.Missing[key] = fmt.Sprintf("In “%s”, add a line “%s: …”.", sec.Heading, l)
				continue
			}
			switch l {
			case "Contact person":
				c.ContactPerson = v
			case "Telephone":
				if digits(v) < 7 {
					c.Missing[key] = fmt.Sprintf("In “%s”, the telephone number “%s” has too few digits.", sec.Heading, v)
				} else {
					c.Telephone = v
				}
			case "Effective date":
				t, ok := parseDate(v)
				if !ok {
					c.Missing[key] = fmt.Sprintf("In “%s”, write the date as 2026-01-31 or 31 January 2026.", sec.Heading)
				} else {
					c.EffectiveDate = t
				}
			}
		}
	}
	return c
}

// LineKey is the field-name suffix of a required line: "Telephone" →
// "telephone", so the error field is "section.contact.telephone".
func LineKey(l string) string {
	return strings.ReplaceAll(strings.ToLower(l), " ", "_")
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimRight(strings.TrimSpace(s), ".")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// EffectiveDate is the date the version declares it takes effect, or the
// zero time when it declares none (versions published before the check).
func (v Version) EffectiveDate() time.Time { return CheckContents(v.Body).EffectiveDate }

// ExampleBody is a notice with every required section, offered as a
// starting point on the publish form and used by the demo and the tests.
// Every bracketed or example value must be replaced before real use.
const ExampleBody = `# Uses and disclosures
We use your health information to treat you, to run our service and to be paid for it. We disclose it to others only as the law allows or with your written authorisation, which you may revoke at any time.

# Your rights
- See and get a copy of your health information.
- Ask us to correct it.
- Ask us to limit what we use or share, and to contact you confidentially.
- Get a list of those with whom we have shared it.
- Get a paper copy of this notice.

# Our duties
The law requires us to keep your health information private, to give you this notice of our legal duties and privacy practices, to follow the notice currently in effect, and to tell you if a breach affects your information.

# Complaints
If you think we have not respected your rights, you may complain. We will not retaliate against you for complaining.
- To us: write to the privacy officer at the address below, or call the number below.
- To the Secretary of HHS: the Office for Civil Rights, U.S. Department of Health and Human Services, 200 Independence Avenue S.W., Washington, D.C. 20201, 1-877-696-6775, www.hhs.gov/ocr/privacy/hipaa/complaints/.

# Contact
- Contact person: Privacy Officer
- Telephone: +1 555 010 0100

# Effective date
Effective date: 2026-01-01
`

// checkRequiredContents adds to f one entry per missing part of a notice,
// and a "body" entry that names them all in one sentence.
func checkRequiredContents(body string, f map[string]string) {
	c := CheckContents(body)
	if len(c.Missing) == 0 {
		return
	}
	var names []string
	for _, sec := range RequiredSections {
		missing := false
		for k, msg := range c.Missing {
			if k == sec.Key || strings.HasPrefix(k, sec.Key+".") {
				f[k] = msg
				missing = true
			}
		}
		if missing {
			names = append(names, "“"+sec.Heading+"”")
		}
	}
	f["body"] = "The notice lacks contents the law requires: " + strings.Join(names, ", ") +
		". Each is a heading with that name (“# " + RequiredSections[0].Heading + "”) followed by its text; see the list below the text box."
}
