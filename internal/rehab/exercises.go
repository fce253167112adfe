package rehab

import "strings"

// ExerciseType is an exercise code devices and programmes use, with the
// name people read.
type ExerciseType struct {
	Code  string
	Label string
}

// ExerciseTypes are the exercise codes Custodia names, in the order a
// therapist picks from. Devices may send other codes; those are shown
// written out (ExerciseLabel).
var ExerciseTypes = []ExerciseType{
	{"wrist_flexion", "Wrist flexion"},
	{"wrist_extension", "Wrist extension"},
	{"finger_tapping", "Finger tapping"},
	{"grip_strength", "Grip strength"},
	{"pinch_grip", "Pinch grip"},
	{"forearm_pronation", "Forearm pronation"},
	{"forearm_supination", "Forearm supination"},
	{"elbow_flexion", "Elbow flexion"},
	{"shoulder_flexion", "Shoulder flexion"},
	{"shoulder_abduction", "Shoulder abduction"},
	{"reach_and_grasp", "Reach and grasp"},
	{"knee_extension", "Knee extension"},
	{"ankle_dorsiflexion", "Ankle dorsiflexion"},
	{"balance_standing", "Standing balance"},
}

// ExerciseLabel is the display name of an exercise code: its name in
// ExerciseTypes, else the code written out ("hand_opening" reads "Hand
// opening"), so no page shows a bare code.
func ExerciseLabel(code string) string {
	for _, t := range ExerciseTypes {
		if t.Code == code {
			return t.Label
		}
	}
	s := strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(code))
	if s == "" {
		return "Unnamed exercise"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SideLabel is the display name of a side.
func SideLabel(s Side) string {
	switch s {
	case Left:
		return "Left"
	case Right:
		return "Right"
	case Both:
		return "Both sides"
	}
	return string(s)
}
