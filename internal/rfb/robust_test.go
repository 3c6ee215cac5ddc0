package rfb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawSession is a handshaken connection the test writes arbitrary bytes to.
func rawSession(t testing.TB, s *Server) (net.Conn, <-chan error) {
	t.Helper()
	conn, done := pipe(t, context.Background(), s)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := Handshake(conn); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return conn, done
}

func TestMalformedMessagesClose(t *testing.T) {
	pf := func(mut func(*PixelFormat)) []byte {
		p := DefaultPixelFormat
		mut(&p)
		b := make([]byte, 20)
		p.marshal(b[4:])
		return b
	}
	cutHeader := binary.BigEndian.AppendUint32([]byte{msgClientCutText, 0, 0, 0}, MaxCutText+1)
	for name, tc := range map[string]struct {
		msg  []byte
		want string
	}{
		"unknown type":     {[]byte{0x99}, "unsupported client message type 153"},
		"colour map":       {pf(func(p *PixelFormat) { p.TrueColour = false }), "colour-map"},
		"24 bpp":           {pf(func(p *PixelFormat) { p.BPP = 24 }), "24 bits per pixel"},
		"zero max":         {pf(func(p *PixelFormat) { p.GreenMax = 0 }), "zero colour maximum"},
		"shift too large":  {pf(func(p *PixelFormat) { p.BPP, p.RedShift = 16, 16 }), "shift"},
		"truncated key":    {[]byte{msgKeyEvent, 1, 0}, "truncated"},
		"oversized paste":  {cutHeader, "exceeds"},
		"truncated paste":  {append(binary.BigEndian.AppendUint32([]byte{msgClientCutText, 0, 0, 0}, 10), "abc"...), "truncated"},
		"truncated encode": {[]byte{msgSetEncodings, 0, 0, 5, 0, 0, 0, 0}, "truncated"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, Options{})
			conn, done := rawSession(t, s)
			writeAll(t, conn, tc.msg)
			if strings.Contains(tc.want, "truncated") {
				conn.Close()
			}
			err := waitErr(t, done)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServeConn = %v, want an error containing %q", err, tc.want)
			}
			if _, err := conn.Read(make([]byte, 1)); err == nil {
				t.Fatal("connection still open")
			}
			if s.Clients() != 0 {
				t.Fatal("connection still attached")
			}
		})
	}
}

func TestConnectionEnds(t *testing.T) {
	t.Run("client hangs up", func(t *testing.T) {
		s := newTestServer(t, Options{})
		c, done := connect(t, s)
		c.Close()
		if err := waitErr(t, done); err != nil {
			t.Fatalf("ServeConn = %v, want nil", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		s := newTestServer(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		conn, done := pipe(t, ctx, s)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := Handshake(conn); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Fatalf("ServeConn = %v, want context.Canceled", err)
		}
	})
	t.Run("server close", func(t *testing.T) {
		s := NewServer(Options{})
		_, done := connect(t, s)
		// A client stuck in the handshake must not hold Close up either.
		_, silent := pipe(t, context.Background(), s)
		s.Close()
		for _, d := range []<-chan error{done, silent} {
			if err := waitErr(t, d); !errors.Is(err, ErrServerClosed) {
				t.Fatalf("ServeConn = %v, want ErrServerClosed", err)
			}
		}
		if err := s.ServeConn(context.Background(), &net.TCPConn{}); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("ServeConn after Close = %v", err)
		}
	})
	t.Run("handshake timeout", func(t *testing.T) {
		s := newTestServer(t, Options{HandshakeTimeout: 50 * time.Millisecond})
		_, done := pipe(t, context.Background(), s)
		if err := waitErr(t, done); err == nil {
			t.Fatal("silent client was not timed out")
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		// The writer blocks on a client that never reads; the client's hang-up must
		// still end ServeConn.
		s := newTestServer(t, Options{})
		conn, done := rawSession(t, s)
		writeAll(t, conn, []byte{msgFBUpdateRequest, 0, 0, 0, 0, 0, 3, 32, 2, 88})
		time.Sleep(20 * time.Millisecond)
		conn.Close()
		waitErr(t, done)
	})
}

func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	s := newTestServer(t, Options{Name: "ns/vm"})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(context.Background(), nc)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Init.Name != "ns/vm" {
		t.Fatalf("name %q", c.Init.Name)
	}
}

// lockedBuffer collects the server's log so panics recovered by the runner still fail.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func FuzzServerInput(f *testing.F) {
	key := func(k uint32, down byte) []byte {
		return binary.BigEndian.AppendUint32([]byte{msgKeyEvent, down, 0, 0}, k)
	}
	pf16 := make([]byte, 20)
	PixelFormat{BPP: 16, Depth: 16, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5}.marshal(pf16[4:])
	full := []byte{msgFBUpdateRequest, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	f.Add(full)
	f.Add(append(append(pf16, full...), 3, 1, 0, 10, 0, 10, 0, 20, 0, 20))
	f.Add([]byte{msgSetEncodings, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21})
	f.Add(bytes.Join([][]byte{key('r', 1), key('r', 0), key(KeyReturn, 1), key(KeyBackSpace, 1)}, nil))
	f.Add(bytes.Join([][]byte{key(KeyControlL, 1), key(KeyAltR, 1), key(KeyDelete, 1), full}, nil))
	f.Add(append(binary.BigEndian.AppendUint32([]byte{msgClientCutText, 0, 0, 0}, 6), "root\r\n"...))
	f.Add([]byte{msgPointerEvent, 1, 0, 10, 0, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		var log lockedBuffer
		s := NewServer(Options{Width: MinWidth, Height: MinHeight, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cli, srv := net.Pipe()
		defer cli.Close()
		done := make(chan error, 1)
		go func() { done <- s.ServeConn(ctx, srv) }()
		_ = cli.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := Handshake(cli); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, cli); close(drained) }()
		_, _ = cli.Write(data) // fails once the server has given up on the input
		cli.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn hung")
		}
		<-drained
		if strings.Contains(log.String(), "panic") {
			t.Fatalf("background panic: %s", log.String())
		}
	})
}

// BenchmarkIdleConn reports what one attached, idle viewer costs, pipe included.
func BenchmarkIdleConn(b *testing.B) {
	s := NewServer(Options{})
	defer s.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range b.N {
		cli, srv := net.Pipe()
		go s.ServeConn(context.Background(), srv)
		if _, err := Handshake(cli); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, cli)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	b.ReportMetric(used/float64(b.N), "B/conn")
}
