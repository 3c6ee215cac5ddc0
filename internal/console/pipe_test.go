package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// Bytes arrive exactly, both ways at once, with message and chunk sizes from 1 byte to
// several copy buffers; the counters match; a normal close gives ReasonClientClosed.
func TestBytesBothWaysExact(t *testing.T) {
	h := newHarness(t, PipeOptions{})
	ws := h.dial(t)
	vm := h.acceptVM(t)

	sizes := []int{1, 2, 7, 125, 126, 127, 1000, 2048, 2049, 4096, 65535, 65536, 65537, 300_000, 1 << 20, 3}
	var up [][]byte
	total := 0
	for i, n := range sizes {
		up = append(up, randomBytes(uint64(i), n))
		total += n
	}
	down := randomBytes(99, 5<<20)

	errc := make(chan error, 2)
	go func() { // browser → VM
		for _, m := range up {
			if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() { // VM → browser, in uneven chunks
		rest := down
		for i := 0; len(rest) > 0; i++ {
			n := min(len(rest), []int{1, 10, 3000, 65536, 200_000, 17}[i%6])
			if _, err := vm.Write(rest[:n]); err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		errc <- nil
	}()

	got := make([]byte, total)
	_ = vm.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(vm, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Join(up, nil)) {
		t.Fatal("browser→VM bytes differ")
	}
	if !bytes.Equal(readBinary(t, ws, len(down)), down) {
		t.Fatal("VM→browser bytes differ")
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}

	if err := ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")); err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, ReasonClientClosed, 2*time.Second) // echoed with the same code 1000
	r := h.result(t)
	wantResult(t, r, ReasonClientClosed)
	if r.Err != nil || r.BytesToVM != int64(total) || r.BytesFromVM != int64(len(down)) {
		t.Fatalf("result %+v, want %d to VM and %d from VM", r, total, len(down))
	}
	// The VM side is closed too.
	_ = vm.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := vm.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("VM side still open: %d %v", n, err)
	}
}

// The VM's stream ending delivers everything it sent, then ReasonVMStopped.
func TestVMStopped(t *testing.T) {
	h := newHarness(t, PipeOptions{})
	ws := h.dial(t)
	vm := h.acceptVM(t)
	data := randomBytes(1, 100_000)
	if _, err := vm.Write(data); err != nil {
		t.Fatal(err)
	}
	_ = vm.Close()
	if !bytes.Equal(readBinary(t, ws, len(data)), data) {
		t.Fatal("bytes differ")
	}
	expectClose(t, ws, ReasonVMStopped, 2*time.Second)
	r := h.result(t)
	wantResult(t, r, ReasonVMStopped)
	if r.Err != nil || r.BytesFromVM != int64(len(data)) || r.BytesToVM != 0 {
		t.Fatalf("result %+v", r)
	}
}

// Cancelling with a reason (directly or wrapped) closes the browser with its code in
// well under a second and stops forwarding input at once.
func TestCancelWithReason(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  CloseReason
	}{
		{ReasonRevoked, ReasonRevoked},
		{fmt.Errorf("alice took over: %w", ReasonTakenOver), ReasonTakenOver},
		{ReasonTicketExpired, ReasonTicketExpired},
		{errors.New("shutting down"), ReasonServerShutdown},
	} {
		t.Run(tc.want.String(), func(t *testing.T) {
			h := newHarness(t, PipeOptions{})
			ws := h.dial(t)
			vm := h.acceptVM(t)
			cancel := h.cancel(t)
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte("before")); err != nil {
				t.Fatal(err)
			}
			_ = vm.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(vm, make([]byte, 6)); err != nil {
				t.Fatal(err)
			}
			cancel(tc.cause)
			// Sent after the revocation, before the close frame: must not reach the VM.
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte("after"))
			if took := expectClose(t, ws, tc.want, time.Second); took > 500*time.Millisecond {
				t.Errorf("close took %v", took)
			}
			r := h.result(t)
			wantResult(t, r, tc.want)
			if r.BytesToVM != 6 || r.Err != nil {
				t.Fatalf("result %+v", r)
			}
			if n, err := vm.Read(make([]byte, 16)); n != 0 || err != io.EOF {
				t.Fatalf("VM got %d more bytes (%v)", n, err)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := newHarness(t, PipeOptions{IdleTimeout: idle})
	ws := h.dial(t)
	vm := h.acceptVM(t)
	// Traffic in either direction keeps the session alive past the timeout...
	start := time.Now()
	var last time.Time
	for i := range 8 {
		if i > 0 {
			time.Sleep(idle / 3)
		}
		if i%2 == 0 {
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1}); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(vm, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		} else {
			if _, err := vm.Write([]byte{2}); err != nil {
				t.Fatal(err)
			}
			readBinary(t, ws, 1)
		}
		last = time.Now()
	}
	if time.Since(start) < 2*idle {
		t.Fatal("test too fast to prove anything")
	}
	// ...and silence ends it.
	expectClose(t, ws, ReasonIdleTimeout, 3*idle)
	if took := time.Since(last); took < idle {
		t.Fatalf("closed after %v, before the idle timeout", took)
	}
	r := h.result(t)
	wantResult(t, r, ReasonIdleTimeout)
	if r.BytesToVM != 4 || r.BytesFromVM != 4 {
		t.Fatalf("result %+v", r)
	}
}

func TestMaxDuration(t *testing.T) {
	const limit = 400 * time.Millisecond
	h := newHarness(t, PipeOptions{MaxDuration: limit, IdleTimeout: time.Hour})
	ws := h.dial(t)
	vm := h.acceptVM(t)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a busy session is cut all the same
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := vm.Write([]byte("frame")); err != nil {
					return
				}
			}
		}
	}()
	expectClose(t, ws, ReasonSessionLimit, 2*time.Second)
	r := h.result(t)
	wantResult(t, r, ReasonSessionLimit)
	if d := r.Ended.Sub(r.Started); d < limit || d > limit+time.Second {
		t.Fatalf("session lasted %v, limit %v", d, limit)
	}
}

func TestTextFrameIsProtocolError(t *testing.T) {
	h := newHarness(t, PipeOptions{})
	ws := h.dial(t)
	vm := h.acceptVM(t)
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, ReasonProtocolError, 2*time.Second)
	r := h.result(t)
	wantResult(t, r, ReasonProtocolError)
	if !errors.Is(r.Err, errTextFrame) || r.BytesToVM != 0 {
		t.Fatalf("result %+v", r)
	}
	_ = vm.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := vm.Read(make([]byte, 16)); n != 0 {
		t.Fatal("text frame reached the VM")
	}
}

// Garbage on the raw connection after the handshake ends the session cleanly.
func TestMalformedFrames(t *testing.T) {
	for name, raw := range map[string][]byte{
		"random":            randomBytes(7, 4096),
		"unmasked binary":   {0x82, 0x03, 'a', 'b', 'c'},
		"reserved opcode":   {0x83, 0x80, 0, 0, 0, 0},
		"rsv bits":          {0xf2, 0x80, 0, 0, 0, 0},
		"fragmented ping":   {0x09, 0x80, 0, 0, 0, 0},
		"huge control":      append([]byte{0x89, 0xfe, 0x01, 0x00, 0, 0, 0, 0}, make([]byte, 256)...),
		"bad close code":    {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7},
		"continuation only": {0x80, 0x81, 0, 0, 0, 0, 'x'},
		"64-bit length":     {0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"truncated header":  {0x82},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, PipeOptions{})
			ws := h.dial(t)
			h.acceptVM(t)
			if _, err := ws.NetConn().Write(raw); err != nil {
				t.Fatal(err)
			}
			if name == "truncated header" || name == "64-bit length" {
				_ = ws.NetConn().Close() // leave the server mid-frame
			}
			r := h.result(t)
			if r.Reason != ReasonProtocolError && r.Reason != ReasonClientClosed {
				t.Fatalf("reason %v (%v)", r.Reason, r.Err)
			}
			if r.Err == nil {
				t.Fatal("no error recorded")
			}
		})
	}
}

// A browser that answers no pings is dropped; one that reads (and so answers) is not.
func TestPingTimeout(t *testing.T) {
	opts := PipeOptions{PingInterval: 100 * time.Millisecond, WriteTimeout: 50 * time.Millisecond}
	h := newHarness(t, opts)
	alive := h.dial(t)
	h.acceptVM(t)
	dead := h.dial(t)
	h.acceptVM(t)
	go func() { // gorilla answers pings while reading
		for {
			if _, _, err := alive.NextReader(); err != nil {
				return
			}
		}
	}()
	r := h.result(t)
	wantResult(t, r, ReasonPingTimeout)
	if d := r.Ended.Sub(r.Started); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("dropped after %v", d)
	}
	_ = dead.Close()
	select {
	case r := <-h.results:
		t.Fatalf("the answering browser was dropped too: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
}

// A browser that never reads while the VM floods: memory stays flat, the VM is not
// read further, and the session ends on the write timeout.
func TestSlowBrowserBackpressure(t *testing.T) {
	h := newHarness(t, PipeOptions{WriteTimeout: 500 * time.Millisecond})
	h.dial(t) // never read
	vm := h.acceptVM(t).(*net.TCPConn)
	_ = vm.SetWriteBuffer(64 << 10)

	before := heapInuse()
	const offered = 100 << 20
	sent := make(chan int64, 1)
	go func() {
		chunk := randomBytes(3, 64<<10)
		var n int64
		for n < offered {
			m, err := vm.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		sent <- n
	}()
	var peak uint64
	var r Result
	for done := false; !done; {
		select {
		case r = <-h.results:
			done = true
		case <-time.After(20 * time.Millisecond):
			peak = max(peak, heapInuse())
		}
	}
	n := <-sent
	wantResult(t, r, ReasonWriteTimeout)
	growth := int64(peak) - int64(before)
	t.Logf("offered %d MB, VM wrote %d KB, forwarded %d KB, heap growth %d KB", offered>>20, n>>10, r.BytesFromVM>>10, growth>>10)
	if growth > 4<<20 {
		t.Fatalf("heap grew by %d KB", growth>>10)
	}
	if n >= offered {
		t.Fatal("the VM was read without limit")
	}
}

func TestClassifyBackendHook(t *testing.T) {
	var seen error
	h := newHarness(t, PipeOptions{ClassifyBackend: func(err error) CloseReason { seen = err; return ReasonTakenOver }})
	ws := h.dial(t)
	_ = h.acceptVM(t).Close()
	expectClose(t, ws, ReasonTakenOver, 2*time.Second)
	wantResult(t, h.result(t), ReasonTakenOver)
	if seen != io.EOF {
		t.Fatalf("hook saw %v", seen)
	}
}

func TestReasonFromContext(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	<-ctx.Done()
	if r := reasonFromContext(ctx); r != ReasonSessionLimit {
		t.Fatalf("deadline: %v", r)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if r := reasonFromContext(ctx); r != ReasonServerShutdown {
		t.Fatalf("plain cancel: %v", r)
	}
}
