package rfb

import (
	"context"
	"errors"
	"image"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pipe attaches a net.Pipe to s and returns the client end plus ServeConn's result.
func pipe(t testing.TB, ctx context.Context, s *Server) (net.Conn, <-chan error) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(ctx, srv) }()
	t.Cleanup(func() { cli.Close() })
	return cli, done
}

func connect(t testing.TB, s *Server) (*Client, <-chan error) {
	t.Helper()
	conn, done := pipe(t, context.Background(), s)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := NewClient(conn)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c, done
}

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// waitFor polls cond; the screen is updated by the server's goroutines.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitErr(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return")
		return nil
	}
}

func TestHandshake(t *testing.T) {
	s := newTestServer(t, Options{Name: "team-a/web-1"})
	c, _ := connect(t, s)
	if c.Init.Width != 800 || c.Init.Height != 600 || c.Init.Name != "team-a/web-1" {
		t.Fatalf("ServerInit = %+v", c.Init)
	}
	if c.Init.PixelFormat != DefaultPixelFormat {
		t.Fatalf("pixel format = %+v", c.Init.PixelFormat)
	}
	if got := s.Text(); !strings.HasSuffix(got, "web-1 login: ") || !strings.Contains(got, "SeaBIOS") {
		t.Fatalf("screen after boot:\n%s", got)
	}
}

// Older viewers still get in: 3.3 has the server pick the type, 3.7 has no SecurityResult.
func TestHandshakeOldVersions(t *testing.T) {
	for _, version := range []string{"RFB 003.003\n", "RFB 003.007\n", "RFB 003.889\n"} {
		s := newTestServer(t, Options{Name: "vm", Width: 640, Height: 480})
		conn, _ := pipe(t, context.Background(), s)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if got := readN(t, conn, 12); string(got) != "RFB 003.008\n" {
			t.Fatalf("server version %q", got)
		}
		writeAll(t, conn, []byte(version))
		if version == "RFB 003.003\n" {
			if got := readN(t, conn, 4); string(got) != "\x00\x00\x00\x01" {
				t.Fatalf("3.3 security type %v", got)
			}
		} else {
			if got := readN(t, conn, 2); string(got) != "\x01\x01" {
				t.Fatalf("%q: security types %v", version, got)
			}
			writeAll(t, conn, []byte{1})
			if version == "RFB 003.889\n" {
				if got := readN(t, conn, 4); string(got) != "\x00\x00\x00\x00" {
					t.Fatalf("SecurityResult %v", got)
				}
			}
		}
		writeAll(t, conn, []byte{1})
		init := readN(t, conn, 24+2)
		if w, h := int(init[0])<<8|int(init[1]), int(init[2])<<8|int(init[3]); w != 640 || h != 480 || string(init[24:]) != "vm" {
			t.Fatalf("%q: ServerInit %v", version, init)
		}
	}
}

func writeAll(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func readN(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	for off := 0; off < n; {
		k, err := c.Read(b[off:])
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		off += k
	}
	return b
}

func TestBadVersionAndSecurity(t *testing.T) {
	for _, reply := range [][]byte{[]byte("RFB 004.000\n"), []byte("HTTP/1.1 200"), append([]byte("RFB 003.008\n"), 2)} {
		s := newTestServer(t, Options{})
		conn, done := pipe(t, context.Background(), s)
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := conn.Read(buf); err != nil {
					return
				}
			}
		}()
		writeAll(t, conn, reply)
		if err := waitErr(t, done); err == nil {
			t.Fatalf("%q: ServeConn returned nil", reply)
		}
	}
}

func nonBlank(img *image.RGBA, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if p := img.RGBAAt(x, y); p.R|p.G|p.B != 0 {
				n++
			}
		}
	}
	return n
}

func TestFullUpdateDecodes(t *testing.T) {
	s := newTestServer(t, Options{})
	c, _ := connect(t, s)
	if err := c.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	rects, err := c.ReadUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if len(rects) != 1 || rects[0] != image.Rect(0, 0, 800, 600) {
		t.Fatalf("rects = %v", rects)
	}
	if n := nonBlank(c.Image(), c.Image().Rect); n < 1000 {
		t.Fatalf("only %d lit pixels", n)
	}
	// The "OK" of the first systemd line is green.
	green := false
	for y := 0; y < 600 && !green; y++ {
		for x := 0; x < 800; x++ {
			if p := c.Image().RGBAAt(x, y); p.G == 0xff && p.R == 0x55 {
				green = true
				break
			}
		}
	}
	if !green {
		t.Fatal("no green pixel on the boot screen")
	}
}

func TestTypingChangesText(t *testing.T) {
	s := newTestServer(t, Options{Hostname: "web-1"})
	c, _ := connect(t, s)
	if err := c.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUpdate(); err != nil {
		t.Fatal(err)
	}
	before := append([]byte(nil), c.Image().Pix...)
	if err := c.Type("roox"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendKey(KeyBackSpace, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Type("t\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "login reply", func() bool {
		return strings.HasSuffix(s.Text(), "web-1 login: root\nLogin incorrect\n\nweb-1 login: ")
	})
	if err := c.RequestUpdate(true); err != nil {
		t.Fatal(err)
	}
	rects, err := c.ReadUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if len(rects) == 0 || rects[0].Dy() == 600 {
		t.Fatalf("incremental update rects = %v, want partial damage", rects)
	}
	if string(before) == string(c.Image().Pix) {
		t.Fatal("image unchanged after typing")
	}
}

func TestPasteAndScroll(t *testing.T) {
	s := newTestServer(t, Options{Hostname: "h", Height: 8 * cellH})
	c, _ := connect(t, s)
	if err := c.SendCutText("a\r\nb\rc\n\td"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pasted lines", func() bool { return strings.HasSuffix(s.Text(), "h login:  d") })
	lines := strings.Split(s.Text(), "\n")
	if len(lines) != 8 || lines[0] == "SeaBIOS (version 1.16.3-shepherd)" {
		t.Fatalf("screen did not scroll:\n%s", s.Text())
	}
}

func TestCtrlAltDelReboots(t *testing.T) {
	var calls atomic.Int32
	s := newTestServer(t, Options{Hostname: "web-1", OnCtrlAltDel: func() { calls.Add(1) }})
	c, _ := connect(t, s)
	if err := c.Type("root"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "echo", func() bool { return strings.HasSuffix(s.Text(), "login: root") })
	// Delete alone, or with one modifier released, is not the salute.
	if err := c.SendKey(KeyControlR, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SendKey(KeyDelete, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SendKey(KeyControlR, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SendCtrlAltDel(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reboot", func() bool { return s.Reboots() == 1 && calls.Load() == 1 })
	if got := s.Text(); strings.Contains(got, "login: root") || !strings.HasPrefix(got, "SeaBIOS") || !strings.HasSuffix(got, "web-1 login: ") {
		t.Fatalf("screen after reboot:\n%s", got)
	}
}

func TestBootDelayAnimates(t *testing.T) {
	s := newTestServer(t, Options{Hostname: "slow", BootDelay: 200 * time.Millisecond})
	if !s.Booting() || strings.Contains(s.Text(), "login:") {
		t.Fatalf("boot finished at once:\n%s", s.Text())
	}
	c, _ := connect(t, s)
	if err := c.Type("ignored"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "prompt", func() bool { return strings.HasSuffix(s.Text(), "slow login: ") })
	if strings.Contains(s.Text(), "ignored") {
		t.Fatal("keys typed during boot were echoed")
	}
	s.Reboot()
	if !s.Booting() || s.Reboots() != 1 {
		t.Fatal("Reboot did not restart the boot sequence")
	}
}

// An incremental request is parked until something changes, and a second viewer of the
// same console sees what the first one types.
func TestIncrementalWaitsAndShares(t *testing.T) {
	s := newTestServer(t, Options{})
	a, _ := connect(t, s)
	b, _ := connect(t, s)
	for _, c := range []*Client{a, b} {
		if err := c.RequestUpdate(false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadUpdate(); err != nil {
			t.Fatal(err)
		}
		if err := c.RequestUpdate(true); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Conn().SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if rects, err := b.ReadUpdate(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle incremental request answered: %v, %v", rects, err)
	}
	_ = b.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := a.Type("x"); err != nil {
		t.Fatal(err)
	}
	rects, err := b.ReadUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if len(rects) != 1 || rects[0].Dx() != 2*cellW || rects[0].Dy() != cellH {
		t.Fatalf("rects = %v, want the typed cell and the cursor", rects)
	}
}

func TestPixelFormat16(t *testing.T) {
	s := newTestServer(t, Options{Width: 320, Height: 200})
	c, _ := connect(t, s)
	pf := PixelFormat{BPP: 16, Depth: 16, BigEndian: true, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5}
	if err := c.SetPixelFormat(pf); err != nil {
		t.Fatal(err)
	}
	if err := c.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUpdate(); err != nil {
		t.Fatal(err)
	}
	if n := nonBlank(c.Image(), c.Image().Rect); n < 500 {
		t.Fatalf("only %d lit pixels at 16 bpp", n)
	}
}

func TestDesktopSize(t *testing.T) {
	s := newTestServer(t, Options{})
	c, _ := connect(t, s)
	if err := c.SetEncodings(EncodingRaw, EncodingDesktopSize); err != nil {
		t.Fatal(err)
	}
	if err := c.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUpdate(); err != nil {
		t.Fatal(err)
	}
	if err := c.RequestUpdate(true); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(640, 480); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUpdate(); err != nil {
		t.Fatal(err)
	}
	if r := c.Image().Rect; r.Dx() != 640 || r.Dy() != 480 {
		t.Fatalf("client framebuffer %v after resize", r)
	}
	if !strings.HasSuffix(s.Text(), "login: ") || s.Resize(1, 1) == nil {
		t.Fatalf("resize lost the prompt or accepted 1x1:\n%s", s.Text())
	}
}
