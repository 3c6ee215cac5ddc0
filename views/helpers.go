package views

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }

func ariaInvalid(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
