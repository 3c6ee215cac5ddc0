package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://Shepherd.Example.COM/":         "https://shepherd.example.com",
		"https://shepherd.example.com:443/app/": "https://shepherd.example.com",
		"http://shepherd.example.com:80":        "http://shepherd.example.com",
		"HTTP://localhost:8080/x?y=1":           "http://localhost:8080",
		"https://shepherd.example.com:8443":     "https://shepherd.example.com:8443",
		"http://[::1]:8080/":                    "http://[::1]:8080",
		"https://[::1]":                         "https://[::1]",
	} {
		got, err := NormalizeOrigin(in)
		if err != nil || got != want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "null", "shepherd.example.com", "ftp://x", "https://user@x", "https://", "wss://x"} {
		if got, err := NormalizeOrigin(bad); err == nil {
			t.Errorf("NormalizeOrigin(%q) = %q, want error", bad, got)
		}
	}
	if _, err := NewUpgrader("not a url"); err == nil {
		t.Error("NewUpgrader accepted a bad public URL")
	}
}

// Only the configured origin gets through, before any upgrade; subprotocol "binary"
// is negotiated when asked for, and no subprotocol is fine too.
func TestUpgraderOrigin(t *testing.T) {
	up, err := NewUpgrader("https://Shepherd.example.com:443/portal/")
	if err != nil {
		t.Fatal(err)
	}
	var upgraded sync.Map // case name → true; the handler may still run after Dial returned
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		upgraded.Store(r.Header.Get("X-Case"), true)
		_ = ws.Close()
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	for _, tc := range []struct {
		name    string
		origin  []string
		protos  []string
		status  int
		subprot string
	}{
		{"exact", []string{"https://shepherd.example.com"}, []string{"binary"}, 101, "binary"},
		{"case and default port", []string{"HTTPS://SHEPHERD.EXAMPLE.COM:443"}, []string{"binary"}, 101, "binary"},
		{"no subprotocol", []string{"https://shepherd.example.com"}, nil, 101, ""},
		{"binary among others", []string{"https://shepherd.example.com"}, []string{"base64", "binary"}, 101, "binary"},
		{"missing", nil, []string{"binary"}, 403, ""},
		{"empty", []string{""}, []string{"binary"}, 403, ""},
		{"null", []string{"null"}, []string{"binary"}, 403, ""},
		{"foreign", []string{"https://evil.example.com"}, []string{"binary"}, 403, ""},
		{"suffix", []string{"https://shepherd.example.com.evil.com"}, []string{"binary"}, 403, ""},
		{"port mismatch", []string{"https://shepherd.example.com:8443"}, []string{"binary"}, 403, ""},
		{"scheme mismatch", []string{"http://shepherd.example.com"}, []string{"binary"}, 403, ""},
		{"with path", []string{"https://shepherd.example.com/portal"}, []string{"binary"}, 403, ""},
		{"two origins", []string{"https://shepherd.example.com", "https://evil.example.com"}, []string{"binary"}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: tc.protos}
			ws, resp, err := d.Dial(url, http.Header{"Origin": tc.origin, "X-Case": {tc.name}})
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if tc.status != 101 {
				if _, ok := upgraded.Load(tc.name); ok {
					t.Fatal("upgraded anyway")
				}
				return
			}
			defer ws.Close()
			if ws.Subprotocol() != tc.subprot {
				t.Fatalf("subprotocol %q, want %q", ws.Subprotocol(), tc.subprot)
			}
		})
	}

	// The handler can check the origin itself before consuming a ticket.
	r := httptest.NewRequest("GET", "/console", nil)
	r.Header.Set("Origin", "https://shepherd.example.com")
	if !up.CheckOrigin(r) {
		t.Fatal("CheckOrigin refused the public origin")
	}
}

func TestReject(t *testing.T) {
	var up *websocket.Upgrader
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err == nil {
			_ = Reject(ws, ReasonTicketExpired)
		}
	}))
	up, _ = NewUpgrader("http://" + srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	h := &harness{srv: srv}
	ws := h.dial(t)
	if took := expectClose(t, ws, ReasonTicketExpired, time.Second); took > 200*time.Millisecond {
		t.Fatalf("took %v", took)
	}
}

func TestReasonTable(t *testing.T) {
	seen := map[int]bool{}
	for _, r := range Reasons() {
		c := r.Code()
		if seen[c] {
			t.Errorf("%v: duplicate code %d", r, c)
		}
		seen[c] = true
		if (c < 4000 || c > 4999) && r != ReasonClientClosed {
			t.Errorf("%v: code %d outside the private range", r, c)
		}
		if len(r.Message()) > 123 {
			t.Errorf("%v: message too long for a close frame", r)
		}
		if back, ok := ReasonFromCode(c); !ok || back != r {
			t.Errorf("ReasonFromCode(%d) = %v", c, back)
		}
		if strings.Contains(r.String(), "(") {
			t.Errorf("%v has no slug", int(r))
		}
	}
	if ReasonClientClosed.Code() != websocket.CloseNormalClosure || len(Reasons()) != 14 {
		t.Fatal("table changed")
	}
	if CloseReason(0).Code() != ReasonInternalError.Code() || CloseReason(99).String() != "reason(99)" {
		t.Fatal("unknown reasons")
	}
}
