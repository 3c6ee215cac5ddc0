package apptest

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Statements is what one request sent to PostgreSQL, as its access log line says.
type Statements struct {
	Count, Writes int
	// SQL lists the statements (the debug line of the request), for failure messages.
	SQL string
}

// StatementsOf finds the access log line of the request that answered resp (by its
// X-Request-Id) and returns its statement counts. The line is written just after the
// response, so it waits for it briefly.
func (e *Env) StatementsOf(t testing.TB, resp *http.Response) Statements {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("response without X-Request-Id")
	}
	line := regexp.MustCompile(`msg=request request_id=` + regexp.QuoteMeta(id) + ` .*? statements=(\d+) writes=(\d+)`)
	sql := regexp.MustCompile(`msg="request statements" request_id=` + regexp.QuoteMeta(id) + ` sql=(".*?[^\\]"|\S+)`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := e.Logs.String()
		if m := line.FindStringSubmatch(logs); m != nil {
			n, _ := strconv.Atoi(m[1])
			w, _ := strconv.Atoi(m[2])
			st := Statements{Count: n, Writes: w}
			if s := sql.FindStringSubmatch(logs); s != nil {
				if u, err := strconv.Unquote(s[1]); err == nil {
					st.SQL = u
				} else {
					st.SQL = s[1]
				}
			}
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
