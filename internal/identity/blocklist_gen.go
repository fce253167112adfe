//go:build ignore

// blocklist_gen writes blocklist.txt: passwords people commonly choose,
// which attackers try first. It is generated here rather than copied from
// another project: a few hundred base words typed from general knowledge of
// what password-breach studies report as most common (names of keyboard
// walks, pets, sports, "password" and "letmein" kinds), each combined with
// the suffixes and repetitions people add to pass length rules. Words of
// fifteen or more code points matter most, since shorter ones already fail
// the length rule; the short bases stay so a "base + digits" password is
// caught by the check in password.go.
//
// Run: go run blocklist_gen.go
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

var bases = strings.Fields(`
password passw0rd p@ssword p@ssw0rd pass letmein welcome welcome1 admin administrator root
qwerty qwertyuiop asdfgh asdfghjkl zxcvbnm qazwsx qwe123 1q2w3e4r 1qaz2wsx zaq12wsx azerty
iloveyou love lovely loveme princess sunshine shadow monkey dragon master superman batman
football baseball basketball soccer hockey golf tennis chelsea arsenal liverpool yankees
michael jennifer jessica daniel thomas charlie jordan hunter ashley andrew joshua matthew
robert william david george michelle nicole amanda summer winter spring autumn flower
freedom whatever trustno1 starwars pokemon minecraft computer internet secret hello hello123
cookie cheese chocolate banana orange apple pepper ginger tigger buster maggie bailey
mustang ferrari porsche harley corvette killer ninja samurai pirate zombie angel angels
blessed jesus christ heaven faith hope family friends forever always together happy smile
doctor nurse hospital clinic health medical medicine patient surgery therapy rehab
changeme default guest test testing test123 demo user login access secure security
blink182 metallica nirvana beatles eminem justin taylor iloveu babygirl baby sweetie
mylove mypassword mypass letmein1 passpass password1 passw0rd1 abc123 abcdef abcd1234
qwerty123 q1w2e3r4 1234qwer 123qwe 123abc a1b2c3 aaaaaa 111111 000000 123123 121212
654321 666666 696969 777777 888888 987654 112233 123321 159753 147258 789456 456789
`)

var suffixes = []string{"", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789",
	"!", "!!", "1!", "123!", "01", "007", "69", "99", "2000", "2020", "2021", "2022", "2023", "2024", "2025", "2026"}

var phrases = []string{
	"correcthorsebatterystaple", "correct horse battery staple", "iloveyouforever", "iloveyousomuch",
	"letmeinletmein", "passwordpassword", "qwertyuiopasdfghjkl", "qwertyuiopasdfghjklzxcvbnm",
	"thequickbrownfox", "thequickbrownfoxjumpsoverthelazydog", "the quick brown fox jumps over the lazy dog",
	"mypasswordismypassword", "thisismypassword", "thisisapassword", "changemechangeme", "welcometothejungle",
	"ihateyouihateyou", "iamthebestintheworld", "onetwothreefourfive", "abcdefghijklmnopqrstuvwxyz",
	"maytheforcebewithyou", "hakunamatata", "supercalifragilisticexpialidocious", "trustnoonetrustno1",
	"i want to break free", "nevergonnagiveyouup", "letitbeletitbe", "rememberthename", "openopensesame",
}

func main() {
	set := map[string]bool{}
	add := func(s string) {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			set[s] = true
		}
	}
	for _, b := range bases {
		for _, s := range suffixes {
			add(b + s)
		}
		add(b + b)
		add(b + b + b)
		add(strings.ToUpper(b[:1]) + b[1:] + "1!")
	}
	for _, p := range phrases {
		add(p)
		add(strings.ReplaceAll(p, " ", ""))
		for _, s := range []string{"1", "123", "!", "2024", "2025"} {
			add(p + s)
		}
	}
	var out []string
	for w := range set {
		out = append(out, w)
	}
	sort.Strings(out)
	f, err := os.Create("blocklist.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	for _, w := range out {
		fmt.Fprintln(f, w)
	}
}
