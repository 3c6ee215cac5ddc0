package console

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"kv-shepherd.io/shepherd/internal/runner"
)

// Defaults of PipeOptions.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 15 * time.Second
)

// closeGrace bounds the close handshake: how long Pipe waits to get the close frame out
// and for the browser's reply before it drops the TCP connection.
const closeGrace = time.Second

// Buffer sizes. A session blocked in a VM read holds only smallBufSize; bulk output is
// read into a pooled bigBufSize buffer that is given back as soon as a read comes back
// short (the VM's output is drained, so the next read will likely block). Browser
// input (key and pointer events, clipboard) is copied through a pooled inBufSize
// buffer borrowed per message. Idle sessions hold no pooled buffer.
const (
	smallBufSize = 2 << 10
	bigBufSize   = 128 << 10
	inBufSize    = 16 << 10
)

var (
	outPool = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}
	inPool  = sync.Pool{New: func() any { b := make([]byte, inBufSize); return &b }}
)

// PipeOptions tune Pipe. The zero value is usable.
type PipeOptions struct {
	// PingInterval is how often the browser is pinged (default 30 s). Pings keep
	// proxies from dropping an idle console; a browser that has not answered one
	// within PingInterval+max(PingInterval, WriteTimeout) is closed with
	// ReasonPingTimeout.
	PingInterval time.Duration
	// IdleTimeout closes the session with ReasonIdleTimeout after this long without a
	// byte either way (pings do not count). 0 disables it.
	IdleTimeout time.Duration
	// MaxDuration is the session lifetime cap; reaching it closes with
	// ReasonSessionLimit. 0 means none.
	MaxDuration time.Duration
	// WriteTimeout bounds one write to the browser (default 15 s). A browser that stops
	// reading makes writes block (the VM is then not read any further, so memory
	// stays flat) and is closed with ReasonWriteTimeout after this long.
	WriteTimeout time.Duration
	// ClassifyBackend maps the error that ended the VM stream (io.EOF for a clean
	// end) to a reason, e.g. by asking the provider whether the VM is still running.
	// nil uses DefaultClassifyBackend. It runs in a copy loop before the close frame
	// goes out, so it must return quickly; it is not called for errors caused by a
	// session already ending.
	ClassifyBackend func(err error) CloseReason
	// Logger receives debug records and panics of the copy loops; nil = slog.Default().
	Logger *slog.Logger
}

// Result describes a finished session, for the audit record.
type Result struct {
	BytesToVM   int64       // payload bytes written to the VM (browser input)
	BytesFromVM int64       // payload bytes read from the VM and delivered to the websocket
	Reason      CloseReason // why it ended; the browser got Reason.Code() if it still listened
	Started     time.Time
	Ended       time.Time
	// Err is the failure behind Reason (I/O or protocol error); nil when Reason tells
	// the whole story: a close by either side, cancellation, idle or lifetime limit.
	Err error
}

// DefaultClassifyBackend: a clean end of the stream (EOF, or the provider closing the
// connection it handed out) means the VM's console went away, anything else a broken
// path to the cluster.
func DefaultClassifyBackend(err error) CloseReason {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
		return ReasonVMStopped
	}
	return ReasonClusterUnreachable
}

// Pipe copies bytes between the browser's websocket ws (accepted with NewUpgrader's
// upgrader) and the VM's console stream vm until one side ends, a limit is hit or ctx
// is done, then closes both: the browser gets a close frame with Reason's code, and
// Pipe waits up to a second for its answer. Pipe owns ws and vm from the call on.
//
// Cancel ctx with context.WithCancelCause and a CloseReason cause (or an error wrapping
// one) to end a session for a reason, e.g. ReasonRevoked or ReasonTakenOver; input
// from the browser stops being forwarded at once and the close frame follows within
// a second. Another cause gives ReasonServerShutdown, a deadline ReasonSessionLimit.
// Note that an http.Request's context is not cancelled by Server.Shutdown once the
// connection is hijacked: derive ctx from the server's lifetime.
//
// Browser→VM: binary messages are streamed to the VM as they arrive; text frames are
// a protocol error. VM→browser: each VM read becomes one binary message.
//
// Pipe returns when the session is over, at most about a second after the event that
// ended it. Handlers should run it in an internal/runner task and return, rather than
// call it inline: a running handler keeps net/http's per-connection state (buffers,
// request, a deep stack) alive, which nearly doubles an idle session's footprint
// (measured ~34 KiB inline vs ~18 KiB in a runner task; see BenchmarkConsole).
func Pipe(ctx context.Context, ws *websocket.Conn, vm net.Conn, opts PipeOptions) Result {
	p := newPipe(ws, vm, opts)
	run := runner.New(ctx, p.log)
	run.Go("console browser->vm", func(ctx context.Context) error { return p.browserToVM(ctx) })
	run.Go("console vm->browser", func(context.Context) error { return p.vmToBrowser() })
	p.supervise(ctx, run)
	p.shutdown()
	run.Wait()
	p.log.Debug("console session ended", "reason", p.reason.String(), "err", p.err,
		"bytes_to_vm", p.toVM, "bytes_from_vm", p.fromVM)
	return Result{
		BytesToVM: p.toVM, BytesFromVM: p.fromVM,
		Reason: p.reason, Err: p.err,
		Started: p.started, Ended: time.Now(),
	}
}

type pipe struct {
	ws      *websocket.Conn
	vm      net.Conn
	opts    PipeOptions
	log     *slog.Logger
	started time.Time
	// readWait is how long after the last pong the browser may stay silent.
	readWait time.Duration

	// ended is closed by the first finish; reason and err are set before it.
	once   sync.Once
	ended  chan struct{}
	reason CloseReason
	err    error

	wsDone   chan struct{} // closed when browserToVM returns: nobody reads ws any more
	lastData atomic.Int64  // unix nanos of the last byte either way (for IdleTimeout)
	pinging  atomic.Bool   // a ping write is in flight

	// Each counter is written by one copy loop only and read after run.Wait.
	toVM, fromVM int64
}

func newPipe(ws *websocket.Conn, vm net.Conn, opts PipeOptions) *pipe {
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ClassifyBackend == nil {
		opts.ClassifyBackend = DefaultClassifyBackend
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &pipe{
		ws: ws, vm: vm, opts: opts, log: log, started: time.Now(),
		readWait: opts.PingInterval + max(opts.PingInterval, opts.WriteTimeout),
		ended:    make(chan struct{}),
		wsDone:   make(chan struct{}),
	}
	p.lastData.Store(p.started.UnixNano())
	// Without a pong within readWait the browser (or the path to it) is gone; the read
	// error surfaces in browserToVM as ReasonPingTimeout. Set before the reader starts:
	// the handler is not safe to change concurrently.
	_ = ws.SetReadDeadline(p.started.Add(p.readWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(p.readWait)) })
	return p
}

// finish records the first reason the session ends for; later calls are ignored, so
// errors caused by the teardown itself never mask the real reason.
func (p *pipe) finish(r CloseReason, err error) {
	p.once.Do(func() {
		p.reason, p.err = r, err
		close(p.ended)
	})
}

func (p *pipe) isEnded() bool {
	select {
	case <-p.ended:
		return true
	default:
		return false
	}
}

// supervise is the session's own goroutine: it waits for the first end event and runs
// the timers. It never blocks on I/O (pings are written by a short-lived task), so
// cancellation is acted on at once.
func (p *pipe) supervise(ctx context.Context, run *runner.Runner) {
	ping := time.NewTicker(p.opts.PingInterval)
	defer ping.Stop()
	var idleC, maxC <-chan time.Time
	var idle *time.Timer
	if p.opts.IdleTimeout > 0 {
		idle = time.NewTimer(p.opts.IdleTimeout)
		defer idle.Stop()
		idleC = idle.C
	}
	if p.opts.MaxDuration > 0 {
		t := time.NewTimer(p.opts.MaxDuration)
		defer t.Stop()
		maxC = t.C
	}
	for {
		select {
		case <-p.ended:
			return
		case <-ctx.Done():
			p.finish(reasonFromContext(ctx), nil)
		case <-maxC:
			p.finish(ReasonSessionLimit, nil)
		case now := <-idleC:
			idleFor := now.Sub(time.Unix(0, p.lastData.Load()))
			if idleFor >= p.opts.IdleTimeout {
				p.finish(ReasonIdleTimeout, nil)
			} else {
				idle.Reset(p.opts.IdleTimeout - idleFor)
			}
		case <-ping.C:
			// One ping at a time; one still blocked behind a browser that does not read
			// is covered by WriteTimeout.
			if p.pinging.CompareAndSwap(false, true) {
				run.Go("console ping", p.ping)
			}
		}
	}
}

func (p *pipe) ping(context.Context) error {
	defer p.pinging.Store(false)
	err := p.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(p.opts.WriteTimeout))
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		p.finish(classifyWrite(err))
	}
	return nil
}

func reasonFromContext(ctx context.Context) CloseReason {
	cause := context.Cause(ctx)
	var r CloseReason
	switch {
	case errors.As(cause, &r):
		return r
	case errors.Is(cause, context.DeadlineExceeded):
		return ReasonSessionLimit
	default:
		return ReasonServerShutdown
	}
}

// shutdown closes both sides once a reason is known. The VM goes first so nothing more
// is forwarded. The browser then gets the close frame, and the connection stays open
// until its close reply arrives (or closeGrace passes): closing a socket with unread
// input makes the kernel send a RST, which can destroy the close frame in flight.
func (p *pipe) shutdown() {
	<-p.ended
	_ = p.vm.Close()
	deadline := time.Now().Add(closeGrace)
	if err := p.ws.WriteControl(websocket.CloseMessage, closeMessage(p.reason), deadline); err == nil {
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-p.wsDone:
		case <-t.C:
		}
		t.Stop()
	}
	_ = p.ws.Close()
}
