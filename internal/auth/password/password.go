// Package password holds the password policy (NIST SP 800-63B) and hashing.
package password

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
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
	MinLength = 8
	MaxLength = 256
)

// Policy checks new passwords. Mode "nist" has no composition rules; "legacy"
// additionally asks for upper case, lower case and a digit.
type Policy struct{ Mode string }

// Validate returns user-facing problems with the new password; none means acceptable.
func (p Policy) Validate(username, password, confirm string) []string {
	var problems []string
	if password != confirm {
		problems = append(problems, "The two passwords do not match.")
	}
	if !utf8.ValidString(password) {
		return append(problems, "The password contains invalid characters.")
	}
	if n := utf8.RuneCountInString(password); n < MinLength {
		problems = append(problems, "Use at least 8 characters (15 or more is better).")
	}
	if utf8.RuneCountInString(password) > MaxLength {
		problems = append(problems, "Use at most 256 characters.")
	}
	for _, r := range password {
		// Only control characters are refused: joiners, non-breaking spaces and every
		// script are fine (NIST: all printing characters and spaces).
		if unicode.IsControl(r) {
			problems = append(problems, "Use printable characters only.")
			break
		}
	}
	lower := strings.ToLower(password)
	if blocklist[lower] || (utf8.RuneCountInString(username) >= 3 && strings.Contains(lower, strings.ToLower(username))) {
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

// prehash turns any password into 44 bytes for bcrypt. NFC normalisation first, so the
// same passphrase typed on different keyboards (composed or decomposed accents) matches.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(norm.NFC.String(password)))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// Hash returns a bcrypt hash of the pre-hashed password.
func Hash(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword(prehash(password), bcrypt.DefaultCost)
	return string(b), err
}

// dummyHash is compared against when the user does not exist, so timing does not reveal it.
var dummyHash, _ = bcrypt.GenerateFromPassword(prehash("not-a-real-password"), bcrypt.DefaultCost)

// Check reports whether password matches hash (an empty hash never matches).
func Check(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), prehash(password)) == nil
}
