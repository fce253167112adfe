package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/custodia-health/custodia/internal/media/sample"
)

// gen makes synthetic, fictional data from a seed: the same seed gives the
// same patients, cases, studies, meshes and rehab sessions, so two runs load
// the same shapes of data. Names are drawn from short lists of common given
// names and invented surnames; no real person's data is used.
type gen struct {
	r    *rand.Rand
	seed uint64
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed}
}

var givenNames = []string{"Ada", "Bram", "Cora", "Dario", "Edda", "Felix", "Greta", "Hugo", "Ines", "Jonas",
	"Kaia", "Lukas", "Mira", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Stellan", "Tilde", "Ugo", "Vera",
	"Wim", "Xenia", "Yara", "Zeno", "Alma", "Basil", "Clio", "Dov"}

// Invented surnames (syllable pairs), so a search for one finds only
// synthetic patients.
var surnameParts = [][]string{
	{"Bel", "Cor", "Dal", "Fen", "Gal", "Hol", "Jas", "Kel", "Lor", "Mar", "Nov", "Orm", "Pel", "Quar", "Ros", "Sal", "Tor", "Vel"},
	{"brook", "dane", "fell", "grove", "holt", "mere", "ridge", "stow", "thorn", "wick", "vale", "marsh"},
}

// surnames is every invented surname, in a fixed order.
func surnames() []string {
	var out []string
	for _, a := range surnameParts[0] {
		for _, b := range surnameParts[1] {
			out = append(out, a+b)
		}
	}
	return out
}

// fakePatient is the profile body of POST /api/v1/patients.
type fakePatient struct {
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	BirthDate     string `json:"birth_date"`
	Email         string `json:"email,omitempty"`
	Phone         string `json:"phone,omitempty"`
	BiologicalSex string `json:"biological_sex,omitempty"`
	HeightCM      int    `json:"height_cm,omitempty"`
	Laterality    string `json:"laterality,omitempty"`
	MRN           string `json:"mrn,omitempty"`
}

func (g *gen) patient(i int) fakePatient {
	sn := surnames()
	given := givenNames[g.r.IntN(len(givenNames))]
	family := sn[g.r.IntN(len(sn))]
	born := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.r.IntN(365*90))
	sexes := []string{"female", "male", "female", "male", "intersex", "unknown"}
	sides := []string{"right", "right", "right", "left", "ambidextrous"}
	return fakePatient{
		GivenName: given, FamilyName: family, BirthDate: born.Format("2006-01-02"),
		Email:         fmt.Sprintf("%s.%s.%d@example.org", lower(given), lower(family), i),
		Phone:         fmt.Sprintf("+1 555 01%02d", g.r.IntN(100)),
		BiologicalSex: sexes[g.r.IntN(len(sexes))],
		HeightCM:      150 + g.r.IntN(50),
		Laterality:    sides[g.r.IntN(len(sides))],
		MRN:           fmt.Sprintf("BM%04d%06d", g.seed%10000, i),
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// fakeCase is the body of POST /api/v1/patients/{id}/cases.
type fakeCase struct {
	Title  string `json:"title"`
	Date   string `json:"date"`
	Status string `json:"status"`
	Notes  string `json:"notes"`
}

func (g *gen) caseFor() fakeCase {
	titles := []string{"Wrist fracture follow-up", "Knee replacement planning", "Shoulder rehabilitation",
		"Ankle sprain review", "Hand prosthesis fitting", "Hip pain assessment"}
	d := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.r.IntN(300))
	return fakeCase{Title: titles[g.r.IntN(len(titles))], Date: d.Format("2006-01-02"), Status: "open",
		Notes: "Synthetic benchmark case; range of motion improving, plan reviewed."}
}

// dicomInstance returns a valid DICOM Part-10 file (explicit VR little
// endian, MONOCHROME2, 16-bit) for instance n of a study: one frame of
// rows×cols with a seeded noise pattern, and its own SOP instance UID.
func (g *gen) dicomInstance(studyUID, seriesUID string, n, rows, cols int, patientName string) []byte {
	return sample.Slice(studyUID, seriesUID, n+1, rows, cols, 2048, 4096, patientName, func(y, x int) int {
		// A disc brighter than its surroundings plus seeded noise.
		dx, dy := float64(x-cols/2), float64(y-rows/2)
		v := 400 + g.r.IntN(200)
		if math.Hypot(dx, dy) < float64(min(rows, cols))/3 {
			v += 1500 + n*3
		}
		return v & 0x0fff
	})
}

// studyUIDs returns seeded study and series UIDs under a private root.
func (g *gen) studyUIDs() (study, series string) {
	base := fmt.Sprintf("1.2.826.0.1.3680043.10.9.%d.%d", g.seed%100000, g.r.Uint32())
	return base, base + ".1"
}

// stlHeaderAndTriangle writes the header of a binary STL of n triangles; the
// caller streams n triangles from stlTriangle so a 500 MiB mesh never sits
// in memory.
func stlHeader(n uint32) []byte {
	b := make([]byte, 84)
	copy(b, "synthetic custodia benchmark mesh")
	binary.LittleEndian.PutUint32(b[80:], n)
	return b
}

// stlTriangle encodes triangle i of a fan of small triangles on a grid.
func stlTriangle(dst []byte, i int) []byte {
	x := float32(i % 1000)
	y := float32(i / 1000 % 1000)
	z := float32(i / 1000000)
	v := []float32{0, 0, 1, x, y, z, x + 1, y, z, x, y + 1, z}
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return append(dst, 0, 0)
}

// rehab upload types, as in the RehabBatch schema.
type rehabExercise struct {
	Type        string  `json:"type"`
	Level       int     `json:"level"`
	Side        string  `json:"side"`
	Date        string  `json:"date"`
	DurationSec float64 `json:"duration_seconds"`
	Performance float64 `json:"performance"`
}

type rehabSession struct {
	ClientID      string          `json:"client_id"`
	DeviceID      string          `json:"device_id"`
	Start         string          `json:"start"`
	End           string          `json:"end"`
	ActivityScore float64         `json:"activity_score"`
	GameTimeSec   float64         `json:"game_time_seconds"`
	Exercises     []rehabExercise `json:"exercises"`
}

type rehabBatch struct {
	Sessions []rehabSession `json:"sessions"`
}

// rehabBatch returns sessions holding `exercises` exercise records in
// total (perSession each), with client ids unique for batch b.
func (g *gen) rehabBatch(b, exercises, perSession int) rehabBatch {
	types := []string{"wrist_flexion", "wrist_extension", "grip_strength", "finger_tapping", "pronation", "supination"}
	sides := []string{"left", "right", "both"}
	var out rehabBatch
	day := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC).AddDate(0, 0, b)
	for s := 0; s*perSession < exercises; s++ {
		start := day.Add(time.Duration(s) * 30 * time.Minute)
		sess := rehabSession{ClientID: fmt.Sprintf("bench-%d-%d-%d", g.seed, b, s), DeviceID: "bench-tablet-1",
			Start: start.Format(time.RFC3339), End: start.Add(25 * time.Minute).Format(time.RFC3339),
			ActivityScore: float64(40 + g.r.IntN(60)), GameTimeSec: float64(600 + g.r.IntN(900))}
		for e := 0; e < perSession && s*perSession+e < exercises; e++ {
			sess.Exercises = append(sess.Exercises, rehabExercise{Type: types[g.r.IntN(len(types))], Level: 1 + g.r.IntN(10),
				Side: sides[g.r.IntN(3)], Date: start.Add(time.Duration(e) * time.Minute).Format(time.RFC3339),
				DurationSec: float64(20 + g.r.IntN(100)), Performance: float64(g.r.IntN(101))})
		}
		out.Sessions = append(out.Sessions, sess)
	}
	return out
}
