package notificationsview

import (
	"strconv"
	"time"

	"github.com/a-h/templ"
)

func itoa(n int) string { return strconv.Itoa(n) }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func readAttr(read bool) string {
	if read {
		return "true"
	}
	return "false"
}

func oobAttr(oob bool) templ.Attributes {
	if oob {
		return templ.Attributes{"data-hx-swap-oob": "true"}
	}
	return templ.Attributes{}
}
