package auth

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

//go:embed blocklist.txt
var blocklistText string

var blocklist = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(blocklistText))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// Password length limits (NIST SP 800-63B): at least 8, and long passphrases must work.
// Passwords are pre-hashed with SHA-256 before bcrypt, so bcrypt's 72-byte input limit
// never truncates a long (or multi-byte Unicode) passphrase.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
)

// PasswordPolicy checks new passwords. Mode "nist" has no composition rules; "legacy"
// additionally asks for upper case, lower case and a digit.
type PasswordPolicy struct{ Mode string }

// Validate returns user-facing problems with the new password; none means acceptable.
func (p PasswordPolicy) Validate(username, password, confirm string) []string {
	var problems []string
	if password != confirm {
		problems = append(problems, "The two passwords do not match.")
	}
	if !utf8.ValidString(password) {
		return append(problems, "The password contains invalid characters.")
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		problems = append(problems, "Use at least 8 characters (15 or more is better).")
	}
	if utf8.RuneCountInString(password) > MaxPasswordLength {
		problems = append(problems, "Use at most 256 characters.")
	}
	for _, r := range password {
		if !unicode.IsPrint(r) && r != ' ' {
			problems = append(problems, "Use printable characters only.")
			break
		}
	}
	lower := strings.ToLower(password)
	if blocklist[lower] || (username != "" && strings.Contains(lower, strings.ToLower(username)) && len(username) >= 3) {
		problems = append(problems, "This password is too common or easy to guess; choose another.")
	}
	if p.Mode == "legacy" {
		var up, low, digit bool
		for _, r := range password {
			up = up || unicode.IsUpper(r)
			low = low || unicode.IsLower(r)
			digit = digit || unicode.IsDigit(r)
		}
		if !up || !low || !digit {
			problems = append(problems, "Include upper-case and lower-case letters and a digit.")
		}
	}
	return problems
}

// prehash turns any password into 44 bytes for bcrypt.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// HashPassword returns a bcrypt hash of the pre-hashed password.
func HashPassword(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword(prehash(password), bcrypt.DefaultCost)
	return string(b), err
}

// dummyHash is compared against when the user does not exist, so timing does not reveal it.
var dummyHash, _ = bcrypt.GenerateFromPassword(prehash("not-a-real-password"), bcrypt.DefaultCost)

// CheckPassword reports whether password matches hash (an empty hash never matches).
func CheckPassword(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), prehash(password)) == nil
}
