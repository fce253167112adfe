package patient

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Address is where a patient lives.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Profile is everything a patient record says about the person. All of it
// is PHI and is stored sealed with the patient's key.
type Profile struct {
	GivenName     string  `json:"given_name"`
	FamilyName    string  `json:"family_name"`
	Email         string  `json:"email,omitempty"`
	Phone         string  `json:"phone,omitempty"`
	BirthDate     string  `json:"birth_date"` // YYYY-MM-DD
	Address       Address `json:"address"`
	Gender        string  `json:"gender,omitempty"`         // as the patient describes it
	BiologicalSex string  `json:"biological_sex,omitempty"` // one of Sexes
	Race          string  `json:"race,omitempty"`
	EyeColour     string  `json:"eye_colour,omitempty"`
	HeightCM      int     `json:"height_cm,omitempty"`  // 0 = not recorded
	Laterality    string  `json:"laterality,omitempty"` // one of Lateralities
	MRN           string  `json:"mrn,omitempty"`        // medical record number
}

// Summary is the minimum necessary for a collaborator (164.514(d)): who the
// case is about, their age, sex and handedness. It is sealed apart from the
// profile so a summary read never decrypts the rest.
type Summary struct {
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	BirthDate     string `json:"birth_date"`
	BiologicalSex string `json:"biological_sex,omitempty"`
	Laterality    string `json:"laterality,omitempty"`
}

// Summary returns the minimum-necessary part of the profile.
func (p Profile) Summary() Summary {
	return Summary{GivenName: p.GivenName, FamilyName: p.FamilyName, BirthDate: p.BirthDate,
		BiologicalSex: p.BiologicalSex, Laterality: p.Laterality}
}

// Name is the display name.
func (s Summary) Name() string { return strings.TrimSpace(s.GivenName + " " + s.FamilyName) }

// Age is the patient's age in whole years on day now.
func (s Summary) Age(now time.Time) int { return age(s.BirthDate, now) }

// Sexes are the recorded biological sexes.
var Sexes = []string{"female", "male", "intersex", "unknown"}

// Lateralities are the recorded handedness values.
var Lateralities = []string{"left", "right", "ambidextrous"}

// Height bounds in centimetres: wider than any recorded human, narrow enough
// to catch inches or metres typed into the field.
const (
	MinHeightCM = 30
	MaxHeightCM = 275
)

const dateLayout = "2006-01-02"

// Normalise trims the free-text fields so that stored values and blind
// indexes do not depend on stray spaces.
func (p *Profile) Normalise() {
	for _, s := range []*string{&p.GivenName, &p.FamilyName, &p.Email, &p.Phone, &p.BirthDate, &p.Gender,
		&p.BiologicalSex, &p.Race, &p.EyeColour, &p.Laterality, &p.MRN,
		&p.Address.Line1, &p.Address.Line2, &p.Address.City, &p.Address.Region, &p.Address.PostalCode, &p.Address.Country} {
		*s = strings.TrimSpace(*s)
	}
	p.BiologicalSex = strings.ToLower(p.BiologicalSex)
	p.Laterality = strings.ToLower(p.Laterality)
}

// Validate checks every field and returns an *InvalidError naming each bad
// one, or nil. now is today, for birth dates in the future.
func (p Profile) Validate(now time.Time) error {
	f := fieldErrors{}
	text := func(field, v string, max int, required bool) {
		switch {
		case v == "" && required:
			f.add(field, "is required")
		case utf8.RuneCountInString(v) > max:
			f.add(field, "must be at most "+itoa(max)+" characters")
		case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
			f.add(field, "must not contain control characters")
		}
	}
	text("given_name", p.GivenName, 100, true)
	text("family_name", p.FamilyName, 100, true)
	text("gender", p.Gender, 60, false)
	text("race", p.Race, 100, false)
	text("eye_colour", p.EyeColour, 40, false)
	text("address.line1", p.Address.Line1, 200, false)
	text("address.line2", p.Address.Line2, 200, false)
	text("address.city", p.Address.City, 100, false)
	text("address.region", p.Address.Region, 100, false)
	text("address.postal_code", p.Address.PostalCode, 20, false)
	text("address.country", p.Address.Country, 60, false)
	if p.Email != "" {
		if len(p.Email) > 254 {
			f.add("email", "must be at most 254 characters")
		} else if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
			f.add("email", "must be an email address like name@example.org")
		}
	}
	if p.Phone != "" {
		digits := 0
		ok := true
		for i, r := range p.Phone {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.':
			default:
				ok = false
			}
		}
		if !ok || digits < 6 || digits > 15 {
			f.add("phone", "must be a phone number of 6 to 15 digits, optionally starting with + (spaces, dashes, dots and brackets allowed)")
		}
	}
	if p.BirthDate == "" {
		f.add("birth_date", "is required")
	} else if d, err := time.Parse(dateLayout, p.BirthDate); err != nil {
		f.add("birth_date", "must be a real date written YYYY-MM-DD")
	} else if d.After(now) {
		f.add("birth_date", "must not be in the future")
	} else if d.Year() < 1880 {
		f.add("birth_date", "must be after 1880")
	}
	if p.BiologicalSex != "" && !oneOf(p.BiologicalSex, Sexes) {
		f.add("biological_sex", "must be one of "+strings.Join(Sexes, ", "))
	}
	if p.Laterality != "" && !oneOf(p.Laterality, Lateralities) {
		f.add("laterality", "must be one of "+strings.Join(Lateralities, ", "))
	}
	if p.HeightCM != 0 && (p.HeightCM < MinHeightCM || p.HeightCM > MaxHeightCM) {
		f.add("height_cm", "must be between "+itoa(MinHeightCM)+" and "+itoa(MaxHeightCM)+" centimetres (leave empty if unknown)")
	}
	if p.MRN != "" {
		if len(p.MRN) > 40 || strings.IndexFunc(p.MRN, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' || r == '.' || r == '/')
		}) >= 0 {
			f.add("mrn", "must be at most 40 letters, digits, dashes, underscores, dots or slashes")
		}
	}
	return f.err()
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// age is whole years from birth (YYYY-MM-DD) to now; -1 if unparsable.
func age(birth string, now time.Time) int {
	d, err := time.Parse(dateLayout, birth)
	if err != nil {
		return -1
	}
	y := now.Year() - d.Year()
	if now.Month() < d.Month() || now.Month() == d.Month() && now.Day() < d.Day() {
		y--
	}
	return y
}

// AdultAge is when a patient may hold portal access without a personal
// representative.
const AdultAge = 18

// nameTokens splits a name into normalised words for the blind index, so
// "smith" finds "Anna Smith" and "Smith-Jones" is found by "smith" and
// "jones" as well as by "smith-jones".
func nameTokens(names ...string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, n := range names {
		for _, w := range strings.Fields(n) {
			w = strings.Trim(w, ".,;:'\"()")
			add(w)
			if strings.ContainsAny(w, "-'") {
				for _, part := range strings.FieldsFunc(w, func(r rune) bool { return r == '-' || r == '\'' }) {
					add(part)
				}
			}
		}
	}
	return out
}
