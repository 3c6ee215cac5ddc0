package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var quiet = slog.New(slog.DiscardHandler)

// harness is a loopback console: an httptest server that accepts websockets with
// NewUpgrader and pipes each to a fresh TCP connection on ln, whose far end is the
// test's "VM".
type harness struct {
	srv     *httptest.Server
	up      *websocket.Upgrader
	ln      net.Listener
	results chan Result
	cancels chan context.CancelCauseFunc
}

func newHarness(t *testing.T, opts PipeOptions) *harness {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{ln: ln, results: make(chan Result, 16), cancels: make(chan context.CancelCauseFunc, 16)}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := h.up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		vm, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			_ = Reject(ws, ReasonClusterUnreachable)
			return
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		h.cancels <- cancel
		h.results <- Pipe(ctx, ws, vm, opts)
	}))
	// The upgrader is ready before the server starts: the handler reads it.
	if h.up, err = NewUpgrader("http://" + h.srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	h.srv.Start()
	t.Cleanup(func() {
		for {
			select {
			case c := <-h.cancels:
				c(ReasonServerShutdown)
				continue
			default:
			}
			break
		}
		h.srv.Close()
		_ = ln.Close()
	})
	return h
}

func (h *harness) wsURL() string { return "ws" + strings.TrimPrefix(h.srv.URL, "http") }

// dial opens the browser side like noVNC does (subprotocol "binary", same origin).
func (h *harness) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
	ws, resp, err := d.Dial(h.wsURL(), http.Header{"Origin": {h.srv.URL}})
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// acceptVM returns the test's end of the VM connection of the latest session.
func (h *harness) acceptVM(t *testing.T) net.Conn {
	t.Helper()
	_ = h.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	vm, err := h.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vm.Close() })
	return vm
}

func (h *harness) cancel(t *testing.T) context.CancelCauseFunc {
	t.Helper()
	select {
	case c := <-h.cancels:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
		return nil
	}
}

func (h *harness) result(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-h.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe did not return")
		return Result{}
	}
}

// readBinary reads exactly n payload bytes from binary messages.
func readBinary(t *testing.T, ws *websocket.Conn, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	for buf.Len() < n {
		mt, r, err := ws.NextReader()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", buf.Len(), n, err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("message type %d, want binary", mt)
		}
		if _, err := io.Copy(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != n {
		t.Fatalf("got %d bytes, want %d", buf.Len(), n)
	}
	return buf.Bytes()
}

// expectClose reads (discarding data) until the close frame and checks its code.
func expectClose(t *testing.T, ws *websocket.Conn, want CloseReason, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = ws.SetReadDeadline(start.Add(within))
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("want close %d (%s) within %v, got %v after %v", want.Code(), want, within, err, time.Since(start))
			}
			// A close the browser started is echoed by gorilla with its code and no text.
			if ce.Code != want.Code() || (ce.Text != want.Message() && want != ReasonClientClosed) {
				t.Fatalf("close %d %q, want %d %q", ce.Code, ce.Text, want.Code(), want.Message())
			}
			return time.Since(start)
		}
		_, _ = io.Copy(io.Discard, r)
	}
}

func wantResult(t *testing.T, r Result, reason CloseReason) {
	t.Helper()
	if r.Reason != reason {
		t.Fatalf("reason %v (err %v), want %v", r.Reason, r.Err, reason)
	}
	if r.Started.IsZero() || r.Ended.Before(r.Started) {
		t.Fatalf("times %v..%v", r.Started, r.Ended)
	}
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
