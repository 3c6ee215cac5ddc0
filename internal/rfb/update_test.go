package rfb

import (
	"errors"
	"image"
	"os"
	"runtime"
	"testing"
	"time"
)

// A client watching part of the screen is not answered for damage elsewhere, and the
// damage it did get is not sent twice.
func TestPartialAreaRequest(t *testing.T) {
	s := newTestServer(t, Options{})
	c, _ := connect(t, s)
	if err := c.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUpdate(); err != nil {
		t.Fatal(err)
	}
	corner := []byte{msgFBUpdateRequest, 1, 0, 0, 0, 0, 0, 100, 0, 100}
	writeAll(t, c.Conn(), corner)
	if err := c.Type("z"); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn().SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if rects, err := c.ReadUpdate(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("damage outside the requested area was sent: %v, %v", rects, err)
	}
	_ = c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.RequestUpdate(true); err != nil {
		t.Fatal(err)
	}
	if rects, err := c.ReadUpdate(); err != nil || len(rects) != 1 {
		t.Fatalf("typed cell: %v, %v", rects, err)
	}
	writeAll(t, c.Conn(), corner)
	_ = c.Conn().SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if rects, err := c.ReadUpdate(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("damage sent twice: %v, %v", rects, err)
	}
}

func TestSubtract(t *testing.T) {
	got := subtract([]image.Rectangle{image.Rect(0, 0, 10, 10), image.Rect(20, 20, 30, 30)}, image.Rect(2, 2, 8, 8))
	area := 0
	for _, r := range got {
		if r.Overlaps(image.Rect(2, 2, 8, 8)) {
			t.Fatalf("%v overlaps the subtracted area", r)
		}
		area += r.Dx() * r.Dy()
	}
	if area != 100-36+100 {
		t.Fatalf("subtract(...) = %v, covering %d pixels", got, area)
	}
}

// Rebooting mid-boot rewinds the one animation instead of starting another.
func TestRebootFloodDuringBoot(t *testing.T) {
	s := newTestServer(t, Options{BootDelay: time.Second})
	c, _ := connect(t, s)
	before := runtime.NumGoroutine()
	for range 50 {
		if err := c.SendCtrlAltDel(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "reboots", func() bool { return s.Reboots() == 50 })
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, n)
	}
}

func BenchmarkFullUpdate(b *testing.B) {
	s := NewServer(Options{})
	defer s.Close()
	c := newConn(s, nil, nil)
	for b.Loop() {
		c.reqPending, c.reqFull, c.reqArea = true, true, image.Rect(0, 0, 800, 600)
		bufPool.Put(c.takeUpdate())
	}
}
