package views

import (
	"strconv"

	"github.com/a-h/templ"
)

// BellLabel is the bell's accessible name.
func BellLabel(unread int) string {
	switch unread {
	case 0:
		return "No unread notifications"
	case 1:
		return "1 unread notification"
	}
	return strconv.Itoa(unread) + " unread notifications"
}

// BellCount is the number drawn on the bell; large counts are shortened.
func BellCount(unread int) string {
	if unread > 99 {
		return "99+"
	}
	return strconv.Itoa(unread)
}

func bellOOB(oob bool) templ.Attributes {
	if oob {
		return templ.Attributes{"data-hx-swap-oob": "true"}
	}
	return templ.Attributes{}
}
