// Package textutil cuts user and external text to a length without breaking it.
package textutil

import (
	"strings"
	"unicode/utf8"
)

// Truncate returns s cut to at most maxBytes bytes, at a character boundary: a multi-byte
// character that does not fit whole is left out, never split. Invalid UTF-8 in s is first
// replaced by U+FFFD, so the result is always valid UTF-8 — PostgreSQL refuses anything
// else, and a refused audit row is a lost one. maxBytes below 1 gives "".
func Truncate(s string, maxBytes int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= maxBytes {
		return s
	}
	if maxBytes < 1 {
		return ""
	}
	cut := maxBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
