package ids

import "testing"

func TestNewIsRandomHex(t *testing.T) {
	a, b := New(), New()
	if len(a) != 32 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}
