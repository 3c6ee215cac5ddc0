// Package domain holds Shepherd's value types and rules that every layer shares:
// naming rules, statuses, ticket and event types, and error codes.
package domain

import (
	"fmt"
	"regexp"
	"strings"
)

// Name limits (spec/domain.md §1.5): System, Service and Namespace names become parts of
// VM names ({namespace}-{system}-{service}-{NN}), so each is short and DNS-safe.
const (
	NameMaxLength     = 15
	NameWarningLength = 12
	VMNameMaxLength   = 63
)

var namePattern = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

var reservedNames = map[string]bool{"default": true, "system": true, "admin": true, "root": true, "internal": true}
var reservedPrefixes = []string{"kube-", "kubevirt-shepherd-"}

// NameCheck is the verdict on a proposed name: an error code (blocking) or a warning.
type NameCheck struct {
	Code    string // "" when acceptable
	Message string
	Warning string // NAME_LENGTH_WARNING text, when acceptable but long
}

// OK reports whether the name can be used.
func (c NameCheck) OK() bool { return c.Code == "" }

// CheckName validates a System, Service or Namespace name. entity is "System",
// "Service" or "Namespace" and appears in messages.
func CheckName(entity, name string) NameCheck {
	n := len(name)
	switch {
	case name == "":
		return NameCheck{Code: CodeNameInvalid, Message: "Enter a name."}
	case n > NameMaxLength:
		return NameCheck{Code: CodeNameTooLong, Message: fmt.Sprintf(
			"%s names can have at most %d characters (this one has %d). Try %q.", entity, NameMaxLength, n, suggest(name))}
	case strings.Contains(name, "--"):
		return NameCheck{Code: CodeNameInvalid, Message: "Use single hyphens only; \"--\" is not allowed."}
	case !namePattern.MatchString(name):
		return NameCheck{Code: CodeNameInvalid, Message: "Use lower-case letters, digits and hyphens; start with a letter and end with a letter or digit."}
	case reservedNames[name]:
		return NameCheck{Code: CodeNameInvalid, Message: fmt.Sprintf("%q is reserved; choose another name.", name)}
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return NameCheck{Code: CodeNameInvalid, Message: fmt.Sprintf("Names starting with %q are reserved.", p)}
		}
	}
	if n > NameWarningLength {
		return NameCheck{Warning: fmt.Sprintf("%d characters: VM names built from it get long; %d or fewer is recommended.", n, NameWarningLength)}
	}
	return NameCheck{}
}

// suggest shortens a name to a valid one of at most NameMaxLength characters.
func suggest(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	s = strings.TrimLeft(s, "-0123456789")
	if len(s) > NameMaxLength {
		s = s[:NameMaxLength]
	}
	s = strings.TrimRight(s, "-")
	if s == "" {
		return "name"
	}
	return s
}

// VMName builds {namespace}-{system}-{service}-{NN} (NN two digits, three past 99).
func VMName(namespace, system, service string, index int) string {
	return fmt.Sprintf("%s-%s-%s-%02d", namespace, system, service, index)
}

// VMNamePart is one component of a generated VM name, for VM_NAME_TOO_LONG breakdowns.
type VMNamePart struct {
	Part    string
	Value   string
	Length  int
	Max     int
	Exceeds bool
}

// CheckVMNameParts is the final guard at request time: every component fits its limit.
func CheckVMNameParts(namespace, system, service string) ([]VMNamePart, bool) {
	parts := []VMNamePart{
		{Part: "namespace", Value: namespace}, {Part: "system", Value: system}, {Part: "service", Value: service},
	}
	ok := true
	for i := range parts {
		parts[i].Length, parts[i].Max = len(parts[i].Value), NameMaxLength
		parts[i].Exceeds = parts[i].Length > NameMaxLength
		ok = ok && !parts[i].Exceeds
	}
	return parts, ok
}
