package rehab_test

import (
	"testing"

	"github.com/custodia-health/custodia/internal/rehab"
)

func TestExerciseCodesHaveDisplayNames(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range rehab.ExerciseTypes {
		if e.Label == "" || e.Label == e.Code || seen[e.Code] {
			t.Errorf("exercise type %q: label %q (duplicate %v)", e.Code, e.Label, seen[e.Code])
		}
		seen[e.Code] = true
	}
	for code, want := range map[string]string{
		"wrist_flexion":  "Wrist flexion",
		"finger_tapping": "Finger tapping",
		"hand_opening":   "Hand opening", // a device's own code, written out
		"":               "Unnamed exercise",
	} {
		if got := rehab.ExerciseLabel(code); got != want {
			t.Errorf("ExerciseLabel(%q) = %q, want %q", code, got, want)
		}
	}
}
