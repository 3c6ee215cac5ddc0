package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

var errTextFrame = errors.New("console: text frame from the browser (RFB is binary)")

// browserToVM streams each binary message to the VM as its bytes arrive. It is the only
// reader of ws, so it keeps reading after the session ended (discarding) until the
// browser answers the close frame; shutdown waits for that through wsDone.
func (p *pipe) browserToVM(ctx context.Context) error {
	defer close(p.wsDone)
	defer p.onPanic()
	forward := true
	for {
		mt, r, err := p.ws.NextReader()
		if err != nil {
			p.finish(classifyRead(err))
			return nil
		}
		if !forward {
			continue // NextReader discards the unread message
		}
		if mt != websocket.BinaryMessage {
			p.finish(ReasonProtocolError, errTextFrame)
			forward = false
			continue
		}
		if err := p.copyToVM(ctx, r); err != nil {
			p.backendEnded(err)
			forward = false
		}
	}
}

// copyToVM copies one message through a pooled buffer. It returns only VM write
// errors: a read error is sticky in gorilla and comes back from the next NextReader.
func (p *pipe) copyToVM(ctx context.Context, r io.Reader) error {
	bp := inPool.Get().(*[]byte)
	defer inPool.Put(bp)
	buf := *bp
	for {
		n, rerr := r.Read(buf)
		// Checking ctx here makes a revocation stop the user's input immediately, even
		// before the close frame is out.
		if n > 0 && ctx.Err() == nil && !p.isEnded() {
			if _, err := p.vm.Write(buf[:n]); err != nil {
				return err
			}
			p.toVM += int64(n)
			if p.opts.IdleTimeout > 0 {
				p.lastData.Store(time.Now().UnixNano())
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// vmToBrowser sends each VM read as one binary message. While the browser does not
// read, WriteMessage blocks (up to WriteTimeout) and the VM is simply not read: the
// only memory a slow browser can pin is the one buffer and the kernel's socket buffers.
func (p *pipe) vmToBrowser() error {
	defer p.onPanic()
	small := make([]byte, smallBufSize)
	var big *[]byte
	defer func() {
		if big != nil {
			outPool.Put(big)
		}
	}()
	for {
		buf := small
		if big != nil {
			buf = *big
		}
		n, err := p.vm.Read(buf)
		if n > 0 {
			now := time.Now()
			_ = p.ws.SetWriteDeadline(now.Add(p.opts.WriteTimeout)) // only sets a field
			// WriteMessage, not NextWriter: gorilla's server fast path sends one frame,
			// copies at most writeBufferSize bytes and writevs the rest straight from
			// buf. (Its writev path allocates two small slice headers per message over
			// writeBufferSize; NextWriter would allocate as well.)
			if werr := p.ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				if !errors.Is(werr, websocket.ErrCloseSent) {
					p.finish(classifyWrite(werr))
				}
				// ErrCloseSent: a close frame is out, sent by shutdown or by gorilla for
				// the reader, which reports the reason.
				return nil
			}
			p.fromVM += int64(n)
			p.lastData.Store(now.UnixNano())
		}
		if err != nil {
			p.backendEnded(err)
			return nil
		}
		// A read that filled its buffer says more output is waiting: continue with the
		// big buffer. A short read says the VM's output is drained and the next read
		// will probably block, which must not pin the big buffer in an idle session. (A burst
		// ending exactly at a buffer boundary pins it until the VM's next output.)
		switch {
		case big == nil && n == len(buf):
			big = outPool.Get().(*[]byte)
		case big != nil && n < len(buf):
			outPool.Put(big)
			big = nil
		}
	}
}

// onPanic turns a panic in a copy loop into ReasonInternalError before the runner logs
// it, so the session is torn down instead of hanging.
func (p *pipe) onPanic() {
	if r := recover(); r != nil {
		p.finish(ReasonInternalError, fmt.Errorf("console: panic: %v", r))
		panic(r)
	}
}

// backendEnded reports the end of the VM stream, unless the session is already ending
// (then the error is just the teardown closing vm).
func (p *pipe) backendEnded(err error) {
	if !p.isEnded() {
		p.finish(p.opts.ClassifyBackend(err), unlessEOF(err))
	}
}

func unlessEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// classifyRead maps a websocket read error to a reason.
func classifyRead(err error) (CloseReason, error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if ce.Code == websocket.CloseAbnormalClosure { // gorilla's code for EOF without close frame
			return ReasonClientClosed, err
		}
		return ReasonClientClosed, nil
	case errors.As(err, &ne) && ne.Timeout():
		return ReasonPingTimeout, err
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ReasonClientClosed, err
	default:
		// gorilla reports framing violations (bad opcode, unmasked frame, oversized
		// control frame, invalid close code, ...) as plain errors and has already sent
		// the browser a 1002 close frame itself.
		return ReasonProtocolError, err
	}
}

// classifyWrite maps a websocket write error to a reason.
func classifyWrite(err error) (CloseReason, error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonWriteTimeout, err
	}
	return ReasonClientClosed, err
}
