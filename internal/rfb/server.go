package rfb

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"kv-shepherd.io/shepherd/internal/runner"
)

// DefaultBootDelay is a believable boot duration for people watching the console. The
// zero Options.BootDelay boots instantly, which is what tests want.
const DefaultBootDelay = 1500 * time.Millisecond

// Screen size limits. RFB sizes are 16-bit; 4096x4096 keeps one framebuffer at 16 MiB.
const (
	DefaultWidth  = 800
	DefaultHeight = 600
	MinWidth      = 16 * cellW
	MinHeight     = 4 * cellH
	MaxWidth      = 4096
	MaxHeight     = 4096
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Name is sent in ServerInit and shown as the window title, e.g. "namespace/name".
	Name string
	// Width and Height default to 800x600 and are clamped to [Min, Max].
	Width, Height int
	// BootDelay spreads the boot log over this long; zero prints it at once.
	BootDelay time.Duration
	// Hostname appears in the login prompt; it defaults to the last element of Name.
	Hostname string
	// OnCtrlAltDel runs, outside the screen lock, after Ctrl+Alt+Del rebooted the console.
	OnCtrlAltDel func()
	// Logger receives errors of background tasks; nil discards them.
	Logger *slog.Logger
	// HandshakeTimeout bounds the handshake so silent peers do not pin a connection;
	// zero means 10 seconds.
	HandshakeTimeout time.Duration
}

// maxInput bounds the login line so a long paste cannot grow it without limit.
const maxInput = 255

// Server is the console of one VM. Any number of connections may share it; they all see
// the same screen and may all type.
type Server struct {
	name, hostname string
	bootDelay      time.Duration
	hsTimeout      time.Duration
	onCAD          func()
	logger         *slog.Logger
	cancel         context.CancelFunc
	run            *runner.Runner // boot animations
	conns          sync.WaitGroup

	mu        sync.Mutex
	con       *console
	clients   map[*conn]struct{}
	closed    bool
	booting   bool
	bootNext  int  // next bootLog line while booting
	animating bool // the boot goroutine is running
	reboots   int
	input     []byte
}

// NewServer returns a booted (or booting, with BootDelay) console. Call Close to end its
// connections and boot animation.
func NewServer(opts Options) *Server {
	w, h := opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	w, h = min(max(w, MinWidth), MaxWidth), min(max(h, MinHeight), MaxHeight)
	s := &Server{
		name:      opts.Name,
		hostname:  opts.Hostname,
		bootDelay: opts.BootDelay,
		hsTimeout: opts.HandshakeTimeout,
		onCAD:     opts.OnCtrlAltDel,
		logger:    opts.Logger,
		con:       newConsole(w, h),
		clients:   map[*conn]struct{}{},
	}
	if s.hostname == "" {
		s.hostname = defaultHostname(opts.Name)
	}
	if s.name == "" {
		s.name = s.hostname
	}
	if s.hsTimeout <= 0 {
		s.hsTimeout = 10 * time.Second
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.run = runner.New(ctx, s.logger)
	s.mu.Lock()
	s.bootLocked()
	s.flushLocked()
	s.mu.Unlock()
	return s
}

// defaultHostname keeps the prompt a plausible host name whatever Name holds.
func defaultHostname(name string) string {
	name = name[strings.LastIndexByte(name, '/')+1:]
	h := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, name)
	if len(h) > 63 {
		h = h[:63]
	}
	if h == "" {
		return "localhost"
	}
	return h
}

// Name is the desktop name sent in ServerInit.
func (s *Server) Name() string { return s.name }

// Size is the current framebuffer size.
func (s *Server) Size() (w, h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.con.w, s.con.h
}

// Text returns the visible screen as lines of text, for tests and text screenshots.
func (s *Server) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.con.text()
}

// Reboots counts reboots since NewServer, from Ctrl+Alt+Del or Reboot.
func (s *Server) Reboots() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reboots
}

// Booting reports whether the boot log is still being printed; keys are ignored meanwhile.
func (s *Server) Booting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.booting
}

// Clients is the number of attached connections.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Reboot clears the screen and runs the boot sequence again, e.g. when the simulated VM
// is restarted through the API. It does not call OnCtrlAltDel.
func (s *Server) Reboot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reboots++
	s.bootLocked()
	s.flushLocked()
}

// Resize changes the framebuffer size. Clients that announced DesktopSize are told;
// others keep their old size and only see the part that still fits.
func (s *Server) Resize(w, h int) error {
	if w < MinWidth || w > MaxWidth || h < MinHeight || h > MaxHeight {
		return fmt.Errorf("rfb: size %dx%d outside %dx%d..%dx%d", w, h, MinWidth, MinHeight, MaxWidth, MaxHeight)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.con.resize(w, h)
	s.con.render()
	full := image.Rect(0, 0, w, h)
	for c := range s.clients {
		c.sizeChanged = true
		c.dirty = append(c.dirty[:0], full)
		c.notify()
	}
	return nil
}

// Close ends every connection and the boot animation, and waits for them. The screen
// stays readable with Text.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.clients {
		c.cancel(ErrServerClosed)
	}
	s.mu.Unlock()
	s.cancel()
	s.run.Wait()
	s.conns.Wait()
}

// ServeConn speaks RFB on c until the client disconnects (nil), ctx ends (its error),
// the Server is closed (ErrServerClosed) or the protocol fails. It takes ownership of c
// and closes it. The read side runs in the caller's goroutine, the write side in one
// supervised goroutine, so an idle connection costs two parked goroutines.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	defer nc.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Closing the socket is the only way to interrupt a blocked Read.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()

	c := newConn(s, nc, cancel)
	if !s.attach(c) {
		return ErrServerClosed
	}
	defer s.detach(c)

	err := c.handshake()
	if err == nil {
		r := runner.New(ctx, s.logger)
		r.Go("rfb-writer", func(ctx context.Context) error {
			werr := c.writeLoop(ctx)
			if werr != nil {
				cancel(werr)
			}
			return werr
		})
		err = c.readLoop()
		// A nil err means the client hung up at a message boundary; whatever the writer
		// hit since is a consequence.
		if err != nil && ctx.Err() != nil {
			// We closed the socket (ctx, Close or a writer failure); the read error only
			// reports that.
			err = context.Cause(ctx)
		}
		cancel(nil)
		r.Wait()
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

func (s *Server) attach(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.clients[c] = struct{}{}
	s.conns.Add(1)
	// A client that starts with an incremental request still gets a first frame.
	c.dirty = append(c.dirty, image.Rect(0, 0, s.con.w, s.con.h))
	return true
}

func (s *Server) detach(c *conn) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	s.conns.Done()
}

// flushLocked renders pending screen changes and wakes connections that can use them.
func (s *Server) flushLocked() {
	rects := s.con.render()
	if len(rects) == 0 {
		return
	}
	for c := range s.clients {
		c.addDirty(rects)
		c.notify()
	}
}
