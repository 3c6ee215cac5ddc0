package console

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/runner"
)

// dialTimeout bounds opening the VM's VNC stream.
const dialTimeout = 30 * time.Second

// Hub runs this process's console sessions for the life of the server, not of the
// HTTP request that upgraded them: Server.Shutdown does not cancel a hijacked
// connection's context, and a handler blocked for hours would keep net/http's
// per-request state alive. Start it before serving, Wait after the server stopped.
type Hub struct {
	Access   *Access
	Clusters Providers
	Monitor  *Monitor
	// Pipe tunes every session (ping interval, idle timeout); MaxDuration is set per
	// session from its record.
	Pipe   PipeOptions
	Logger *slog.Logger

	mu  sync.Mutex
	run *runner.Runner
}

// Start begins the revocation monitor; sessions end when ctx does.
func (h *Hub) Start(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.run = runner.New(ctx, h.logger())
	h.run.Go("console revocation monitor", h.Monitor.Run)
}

// Wait returns once every session has ended and its record is written.
func (h *Hub) Wait() {
	h.mu.Lock()
	run := h.run
	h.mu.Unlock()
	if run != nil {
		run.Wait()
	}
}

// Refuse closes an accepted websocket that gets no session, with the reason for err.
func (h *Hub) Refuse(ws *websocket.Conn, err error) {
	reason := RefusalReason(err)
	h.spawn("console refusal", func(context.Context) error {
		_ = Reject(ws, reason)
		return nil
	})
}

// Serve dials the VM of an opened session and pipes it to the browser until the
// session ends, then writes its record. It returns at once.
func (h *Hub) Serve(ws *websocket.Conn, s *Session) {
	h.spawn("console "+s.Row.ID.String(), func(ctx context.Context) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		unwatch := h.Monitor.Watch(s.Row.ID, cancel)
		defer unwatch()

		dctx, dcancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := h.Access.Dial(dctx, h.Clusters, s)
		dcancel()
		if err != nil {
			reason := RefusalReason(err)
			var cause CloseReason
			if errors.As(context.Cause(ctx), &cause) {
				reason = cause // revoked or taken over while dialling
			}
			h.logger().Info("console: the VM's stream could not be opened", "session", s.Row.ID, "vm", s.VM.Name, "err", err)
			_ = Reject(ws, reason)
			return h.Access.Close(ctx, s, Result{Reason: reason, Err: err, Started: time.Now(), Ended: time.Now()})
		}
		opts := h.Pipe
		backend := opts.ClassifyBackend
		if backend == nil {
			backend = DefaultClassifyBackend
		}
		opts.ClassifyBackend = func(err error) CloseReason {
			if r, ok := h.Access.Revoked(context.WithoutCancel(ctx), s.Row.ID); ok {
				return r // a take-over cut the stream: say so, not "VM stopped"
			}
			return backend(err)
		}
		opts.MaxDuration = time.Until(s.Row.EndsAt)
		if opts.MaxDuration <= 0 {
			opts.MaxDuration = time.Millisecond
		}
		if opts.Logger == nil {
			opts.Logger = h.logger()
		}
		res := Pipe(ctx, ws, conn, opts)
		return h.Access.Close(ctx, s, res)
	})
}

func (h *Hub) spawn(name string, fn func(context.Context) error) {
	h.mu.Lock()
	run := h.run
	h.mu.Unlock()
	if run == nil {
		panic("console.Hub: Serve before Start")
	}
	run.Go(name, fn)
}

// RefusalReason maps why a session could not start to the close reason the page
// shows: an unusable ticket, a VM that is not running, access that is gone, a console
// someone else holds, or a cluster that did not answer.
func RefusalReason(err error) CloseReason {
	var de *domain.Error
	if errors.As(err, &de) {
		switch de.Code {
		case domain.CodeConsoleTicketInvalid:
			return ReasonTicketExpired
		case domain.CodeVMNotRunning:
			return ReasonVMStopped
		case domain.CodeConsoleInUse:
			return ReasonInUse
		}
		return ReasonRevoked
	}
	var ke *kube.Error
	if errors.As(err, &ke) {
		switch ke.Code {
		case kube.CodeVMNotRunning, kube.CodeVMNotFound:
			return ReasonVMStopped
		case kube.CodeConsoleInUse:
			return ReasonInUse
		}
	}
	return ReasonClusterUnreachable
}

func (h *Hub) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}
