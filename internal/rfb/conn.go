package rfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"sync"
)

// maxDirty bounds the rectangles kept per connection; beyond it they collapse into their
// bounding box, which costs some bytes but keeps the bookkeeping constant.
const maxDirty = 16

const (
	modCtrlL = 1 << iota
	modCtrlR
	modAltL
	modAltR
)

// conn is one client. The fields marked below are shared with the screen and guarded by
// Server.mu; mods and lastCR belong to the reading goroutine alone.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	cancel context.CancelCauseFunc
	wake   chan struct{} // capacity 1: "look again", never blocks the notifier

	// guarded by Server.mu
	pf          PixelFormat
	pal         [numColours][4]byte // palette in the client's pixel format
	desktopSize bool
	sizeChanged bool
	dirty       []image.Rectangle
	reqPending  bool
	reqFull     bool // some pending request was non-incremental
	reqArea     image.Rectangle

	// reader only
	mods   uint8
	lastCR bool
}

func newConn(s *Server, nc net.Conn, cancel context.CancelCauseFunc) *conn {
	// Client messages are tiny; a small buffer keeps idle connections cheap.
	c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, 256), cancel: cancel, wake: make(chan struct{}, 1)}
	c.setPixelFormat(DefaultPixelFormat)
	return c
}

func (c *conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) setPixelFormat(pf PixelFormat) {
	c.pf = pf
	for i, rgb := range palette {
		pf.encodePixel(c.pal[i][:pf.BPP/8], rgb[0], rgb[1], rgb[2])
	}
}

func (c *conn) addDirty(rects []image.Rectangle) {
	c.dirty = append(c.dirty, rects...)
	if len(c.dirty) > maxDirty {
		u := c.dirty[0]
		for _, r := range c.dirty[1:] {
			u = u.Union(r)
		}
		c.dirty = append(c.dirty[:0], u)
	}
}

// readLoop handles client messages until EOF at a message boundary (nil) or an error.
// Every length is checked before use, so hostile input costs at most MaxCutText of
// reading and a fixed amount of memory.
func (c *conn) readLoop() error {
	var buf [512]byte
	for {
		t, err := c.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		switch t {
		case msgSetPixelFormat:
			if err := c.read(buf[:19]); err != nil {
				return err
			}
			pf := unmarshalPixelFormat(buf[3:19])
			if err := pf.validate(); err != nil {
				return err
			}
			c.s.mu.Lock()
			c.setPixelFormat(pf)
			c.s.mu.Unlock()
		case msgSetEncodings:
			if err := c.read(buf[:3]); err != nil {
				return err
			}
			desktopSize := false
			for n := binary.BigEndian.Uint16(buf[1:]); n > 0; n-- {
				if err := c.read(buf[:4]); err != nil {
					return err
				}
				desktopSize = desktopSize || int32(binary.BigEndian.Uint32(buf[:4])) == EncodingDesktopSize
			}
			c.s.mu.Lock()
			c.desktopSize = desktopSize
			c.s.mu.Unlock()
		case msgFBUpdateRequest:
			if err := c.read(buf[:9]); err != nil {
				return err
			}
			x, y := int(binary.BigEndian.Uint16(buf[1:])), int(binary.BigEndian.Uint16(buf[3:]))
			w, h := int(binary.BigEndian.Uint16(buf[5:])), int(binary.BigEndian.Uint16(buf[7:]))
			c.request(buf[0] == 0, image.Rect(x, y, x+w, y+h))
		case msgKeyEvent:
			if err := c.read(buf[:7]); err != nil {
				return err
			}
			c.s.keyEvent(c, binary.BigEndian.Uint32(buf[3:]), buf[0] != 0)
		case msgPointerEvent:
			if err := c.read(buf[:5]); err != nil {
				return err
			}
		case msgClientCutText:
			if err := c.read(buf[:7]); err != nil {
				return err
			}
			n := binary.BigEndian.Uint32(buf[3:])
			if n > MaxCutText {
				return fmt.Errorf("rfb: ClientCutText of %d bytes exceeds %d", n, MaxCutText)
			}
			for n > 0 {
				k := min(n, uint32(len(buf)))
				if err := c.read(buf[:k]); err != nil {
					return err
				}
				c.s.paste(c, buf[:k])
				n -= k
			}
		default:
			return fmt.Errorf("rfb: unsupported client message type %d", t)
		}
	}
}

// read fills b; EOF inside a message is a truncated message, not a clean hang-up.
func (c *conn) read(b []byte) error {
	if _, err := io.ReadFull(c.br, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("rfb: truncated message: %w", err)
	}
	return nil
}

// request records a FramebufferUpdateRequest. Requests pile up into one: RFB lets the
// server answer several with a single update.
func (c *conn) request(full bool, area image.Rectangle) {
	c.s.mu.Lock()
	if c.reqPending {
		c.reqArea = c.reqArea.Union(area)
		c.reqFull = c.reqFull || full
	} else {
		c.reqPending, c.reqFull, c.reqArea = true, full, area
	}
	c.s.mu.Unlock()
	c.notify()
}

// writeLoop sends an update whenever one is both requested and available.
func (c *conn) writeLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		}
		msg := c.takeUpdate()
		if msg == nil {
			continue
		}
		_, err := c.nc.Write(*msg)
		bufPool.Put(msg)
		if err != nil {
			return err
		}
	}
}

// bufPool recycles update buffers: a full 800x600 frame is ~1.9 MB and idle connections
// should hold none.
var bufPool sync.Pool

// takeUpdate encodes the answer to the pending request, or returns nil when there is
// nothing to say yet (incremental request, nothing changed in its area).
func (c *conn) takeUpdate() *[]byte {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.reqPending {
		return nil
	}
	fb := image.Rect(0, 0, s.con.w, s.con.h)
	var rects []image.Rectangle
	sendSize := c.sizeChanged && c.desktopSize
	switch {
	case sendSize:
		rects, c.dirty = append(rects, fb), c.dirty[:0]
	case c.reqFull:
		area := c.reqArea.Intersect(fb)
		if !area.Empty() {
			rects = append(rects, area)
		}
		c.dirty = subtract(c.dirty, area)
	default:
		for _, d := range c.dirty {
			if r := d.Intersect(c.reqArea); !r.Empty() {
				rects = append(rects, r)
			}
		}
		if len(rects) == 0 {
			return nil
		}
		c.dirty = subtract(c.dirty, c.reqArea)
	}
	c.reqPending, c.sizeChanged = false, false

	bpp := int(c.pf.BPP / 8)
	size := 4
	if sendSize {
		size += 12
	}
	for _, r := range rects {
		size += 12 + r.Dx()*r.Dy()*bpp
	}
	p, _ := bufPool.Get().(*[]byte)
	if p == nil || cap(*p) < size {
		b := make([]byte, 0, size)
		p = &b
	}
	b := (*p)[:0]
	n := len(rects)
	if sendSize {
		n++
	}
	b = append(b, msgFramebufferUpdate, 0, byte(n>>8), byte(n))
	if sendSize {
		b = appendRectHeader(b, fb, EncodingDesktopSize)
	}
	for _, r := range rects {
		b = appendRectHeader(b, r, EncodingRaw)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			src := s.con.fb[y*s.con.w+r.Min.X : y*s.con.w+r.Max.X]
			dst := b[len(b) : len(b)+len(src)*bpp]
			b = b[:len(b)+len(dst)]
			// The screen lock is held here, so the common 32 bpp case gets a tight loop.
			if bpp == 4 {
				for i, idx := range src {
					*(*[4]byte)(dst[i*4:]) = c.pal[idx]
				}
				continue
			}
			for i, idx := range src {
				copy(dst[i*bpp:(i+1)*bpp], c.pal[idx][:bpp])
			}
		}
	}
	*p = b
	return p
}

func appendRectHeader(b []byte, r image.Rectangle, enc int32) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(r.Min.X))
	b = binary.BigEndian.AppendUint16(b, uint16(r.Min.Y))
	b = binary.BigEndian.AppendUint16(b, uint16(r.Dx()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.Dy()))
	return binary.BigEndian.AppendUint32(b, uint32(enc))
}

// subtract removes area from every dirty rectangle. Keeping only what lies outside
// matters: a client that keeps requesting a part of the screen must not be answered
// again and again with the same damage.
func subtract(dirty []image.Rectangle, area image.Rectangle) []image.Rectangle {
	var out []image.Rectangle
	for _, d := range dirty {
		x := d.Intersect(area)
		if x.Empty() {
			out = append(out, d)
			continue
		}
		// Up to four bands around the intersection: above, below, left, right.
		for _, r := range [4]image.Rectangle{
			{d.Min, image.Pt(d.Max.X, x.Min.Y)},
			{image.Pt(d.Min.X, x.Max.Y), d.Max},
			{image.Pt(d.Min.X, x.Min.Y), image.Pt(x.Min.X, x.Max.Y)},
			{image.Pt(x.Max.X, x.Min.Y), image.Pt(d.Max.X, x.Max.Y)},
		} {
			if !r.Empty() {
				out = append(out, r)
			}
		}
	}
	if len(out) > maxDirty {
		u := out[0]
		for _, r := range out[1:] {
			u = u.Union(r)
		}
		out = append(out[:0], u)
	}
	return out
}
