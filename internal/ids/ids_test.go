package ids

import "testing"

func TestNewIsRandomHex(t *testing.T) {
	a, b := New(), New()
	if len(a) != 32 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestValidAcceptsOnlyTheShapeOfMadeIDs(t *testing.T) {
	long := make([]byte, 1500)
	for i := range long {
		long[i] = 'a'
	}
	for _, c := range []struct {
		id   string
		want bool
	}{
		{New(), true},
		{"ce_" + New(), true},
		{"abcdefgh_" + New(), true},
		{"", false},
		{"Jane Doe", false},
		{string(long), false},
		{New()[:31], false},
		{New() + "0", false},
		{"0123456789ABCDEF0123456789abcdef", false},
		{"_" + New(), false},
		{"ce-" + New(), false},
		{"Ce_" + New(), false},
		{"abcdefghi_" + New(), false},
		{"0123456789abcdef0123456789abcdeg", false},
		{"0123456789abcdef0123456789abcd\u00e9", false},
	} {
		if got := Valid(c.id); got != c.want {
			t.Errorf("Valid(%.40q) = %v, want %v", c.id, got, c.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add(New())
	f.Add("ce_" + New())
	f.Add("Jane Doe")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) && (len(s) < 32 || len(s) > 41) {
			t.Fatalf("Valid(%q) with length %d", s, len(s))
		}
	})
}
