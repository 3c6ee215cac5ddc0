package password_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"kv-shepherd.io/shepherd/internal/auth/password"
)

// blockedWords reads the shipped blocklist independently of the package's parser.
func blockedWords(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("blocklist.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			out = append(out, strings.ToLower(w))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) < 50 {
		tb.Fatalf("blocklist has only %d words", len(out))
	}
	return out
}

func hasProblem(problems []string, part string) bool {
	for _, p := range problems {
		if strings.Contains(p, part) {
			return true
		}
	}
	return false
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	// 64 runes, emoji and non-Latin letters included.
	passphrase := "🐑 Schäfchen zählen, 羊を数える, считать овец 🐑 🌙 sleep well, nights!!"
	if n := utf8.RuneCountInString(passphrase); n != 64 {
		t.Fatalf("test passphrase has %d runes, want 64", n)
	}
	const (
		ok       = ""
		short    = "at least 8"
		long     = "at most 256"
		common   = "too common"
		mismatch = "do not match"
		classes  = "upper-case"
		invalid  = "invalid characters"
		printing = "printable"
	)
	tests := []struct {
		name, mode, user, pw, confirm string
		want                          string // "" = accepted; else a fragment of the expected problem
	}{
		{"too short", "nist", "alice", "abc12", "abc12", short},
		{"seven multibyte runes are too short", "nist", "alice", "ééééééé", "ééééééé", short},
		{"exactly 8", "nist", "alice", "kq9-zv3m", "kq9-zv3m", ok},
		{"exactly 8 multibyte runes", "nist", "alice", "ééééééé1", "ééééééé1", ok},
		{"blocklisted", "nist", "alice", "password123", "password123", common},
		{"blocklisted mixed case", "nist", "alice", "PassWord123", "PassWord123", common},
		{"blocklisted upper case", "nist", "alice", "PASSWORD123", "PASSWORD123", common},
		{"contains username", "nist", "alice", "my-alice-rocks", "my-alice-rocks", common},
		{"contains username other case", "nist", "alice", "my-ALICE-rocks", "my-ALICE-rocks", common},
		{"mismatch", "nist", "alice", "correct horse", "correct horsE", mismatch},
		{"unicode passphrase with emoji", "nist", "alice", passphrase, passphrase, ok},
		{"256 characters", "nist", "alice", strings.Repeat("é", 256), strings.Repeat("é", 256), ok},
		{"257 characters", "nist", "alice", strings.Repeat("x", 257), strings.Repeat("x", 257), long},
		{"invalid UTF-8", "nist", "alice", "abc\xffdefgh", "abc\xffdefgh", invalid},
		{"control character", "nist", "alice", "abc\x00defgh", "abc\x00defgh", printing},
		{"nist has no composition rules", "nist", "alice", "all lower case words", "all lower case words", ok},
		{"legacy wants upper case", "legacy", "alice", "lower-case-9", "lower-case-9", classes},
		{"legacy wants lower case", "legacy", "alice", "UPPER-CASE-9", "UPPER-CASE-9", classes},
		{"legacy wants a digit", "legacy", "alice", "Mixed-Case-x", "Mixed-Case-x", classes},
		{"legacy accepts all three", "legacy", "alice", "Mixed-Case-9", "Mixed-Case-9", ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := password.Policy{Mode: tc.mode}.Validate(tc.user, tc.pw, tc.confirm)
			if tc.want == ok {
				if len(got) != 0 {
					t.Errorf("refused: %q", got)
				}
				return
			}
			if !hasProblem(got, tc.want) {
				t.Errorf("problems = %q, want one mentioning %q", got, tc.want)
			}
		})
	}
}

func TestPasswordPolicyRefusesWholeBlocklist(t *testing.T) {
	t.Parallel()
	p := password.Policy{Mode: "nist"}
	for _, w := range blockedWords(t) {
		for _, v := range []string{w, strings.ToUpper(w)} {
			if got := p.Validate("", v, v); !hasProblem(got, "too common") {
				t.Errorf("Validate(%q) = %q, want it refused as too common", v, got)
			}
		}
	}
}

func TestHashAndCheckPassword(t *testing.T) {
	t.Parallel()
	hash, err := password.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, "correct horse") || !strings.HasPrefix(hash, "$2") {
		t.Errorf("hash %q is not a bcrypt hash", hash)
	}
	if !password.Check(hash, "correct horse battery staple") {
		t.Error("the right password does not match its hash")
	}
	if password.Check(hash, "correct horse battery stapl") {
		t.Error("a wrong password matches")
	}
	if password.Check("", "") || password.Check("", "anything") {
		t.Error("an empty hash matches")
	}
	again, err := password.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == hash {
		t.Error("two hashes of one password are identical: no salt")
	}
}

// bcrypt alone only reads 72 bytes; the SHA-256 pre-hash makes the rest count.
func TestCheckPasswordUsesWholeLongPassword(t *testing.T) {
	t.Parallel()
	prefix := strings.Repeat("ünïcødé-", 12) // 12 × 12 bytes = 144 bytes
	a, b := prefix+"tail-A", prefix+"tail-B"
	if len(prefix) < 72 {
		t.Fatal("prefix shorter than bcrypt's limit")
	}
	hash, err := password.Hash(a)
	if err != nil {
		t.Fatal(err)
	}
	if !password.Check(hash, a) {
		t.Error("a long password does not match its own hash")
	}
	if password.Check(hash, b) {
		t.Error("two long passwords that differ only after byte 72 both match: bcrypt truncated them")
	}
}

func FuzzPasswordPolicy(f *testing.F) {
	for _, w := range blockedWords(f) {
		f.Add("", w, w, true, false)
	}
	f.Add("alice", "PassWord123", "PassWord123", true, false)
	f.Add("alice", "my-alice-rocks", "", true, true)
	f.Add("bob", "short", "short", true, false)
	f.Add("bob", "long enough passphrase", "long enough passphrase!", false, false)
	f.Add("", "🐑🐑🐑🐑🐑🐑🐑", "", true, false)
	f.Add("", "abc\xffdefghij", "", true, true)
	f.Add("", strings.Repeat("x", 257), "", true, false)
	blocked := map[string]bool{}
	for _, w := range blockedWords(f) {
		blocked[w] = true
	}

	f.Fuzz(func(t *testing.T, username, pwd, confirm string, sameConfirm, legacy bool) {
		if sameConfirm {
			confirm = pwd
		}
		mode := "nist"
		if legacy {
			mode = "legacy"
		}
		problems := password.Policy{Mode: mode}.Validate(username, pwd, confirm)
		accepted := len(problems) == 0
		if !accepted {
			return
		}
		switch {
		case pwd != confirm:
			t.Fatalf("accepted %q with a different confirmation %q", pwd, confirm)
		case !utf8.ValidString(pwd):
			t.Fatalf("accepted invalid UTF-8 %q", pwd)
		case utf8.RuneCountInString(pwd) < password.MinLength:
			t.Fatalf("accepted %q, shorter than %d characters", pwd, password.MinLength)
		case utf8.RuneCountInString(pwd) > password.MaxLength:
			t.Fatalf("accepted a pwd of %d characters", utf8.RuneCountInString(pwd))
		case blocked[strings.ToLower(pwd)]:
			t.Fatalf("accepted blocklisted %q", pwd)
		}
	})
}
