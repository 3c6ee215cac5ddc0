package rfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net"
	"time"
)

// maxClientFramebuffer caps what a (possibly hostile) server can make the client allocate.
const maxClientFramebuffer = MaxWidth * MaxHeight

// Handshake performs the client side of the RFB 3.8 handshake with security type None
// and a shared ClientInit, returning the server's ServerInit. It is enough on its own to
// check that something "answers an RFB 3.8 handshake".
func Handshake(rw io.ReadWriter) (ServerInit, error) {
	return handshake(rw, bufio.NewReader(rw))
}

func handshake(w io.Writer, r *bufio.Reader) (ServerInit, error) {
	var init ServerInit
	var v [12]byte
	if _, err := io.ReadFull(r, v[:]); err != nil {
		return init, fmt.Errorf("rfb: reading server version: %w", err)
	}
	major, minor, ok := parseVersion(v)
	if !ok || major != 3 || minor < 8 {
		return init, fmt.Errorf("rfb: server speaks %q, want RFB 003.008", v[:])
	}
	if _, err := io.WriteString(w, "RFB 003.008\n"); err != nil {
		return init, err
	}
	n, err := r.ReadByte()
	if err != nil {
		return init, fmt.Errorf("rfb: reading security types: %w", err)
	}
	if n == 0 {
		return init, fmt.Errorf("rfb: server refused the connection: %s", readReason(r))
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(r, types); err != nil {
		return init, fmt.Errorf("rfb: reading security types: %w", err)
	}
	hasNone := false
	for _, t := range types {
		hasNone = hasNone || t == securityNone
	}
	if !hasNone {
		return init, fmt.Errorf("rfb: server offers security types %v, not None", types)
	}
	if _, err := w.Write([]byte{securityNone}); err != nil {
		return init, err
	}
	var b [24]byte
	if _, err := io.ReadFull(r, b[:4]); err != nil {
		return init, fmt.Errorf("rfb: reading SecurityResult: %w", err)
	}
	if binary.BigEndian.Uint32(b[:4]) != 0 {
		return init, fmt.Errorf("rfb: security failed: %s", readReason(r))
	}
	if _, err := w.Write([]byte{1}); err != nil { // shared
		return init, err
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return init, fmt.Errorf("rfb: reading ServerInit: %w", err)
	}
	init.Width, init.Height = binary.BigEndian.Uint16(b[0:]), binary.BigEndian.Uint16(b[2:])
	init.PixelFormat = unmarshalPixelFormat(b[4:20])
	nameLen := binary.BigEndian.Uint32(b[20:])
	if nameLen > 1<<16 {
		return init, fmt.Errorf("rfb: desktop name of %d bytes", nameLen)
	}
	name := make([]byte, nameLen)
	if _, err := io.ReadFull(r, name); err != nil {
		return init, fmt.Errorf("rfb: reading desktop name: %w", err)
	}
	init.Name = string(name)
	return init, nil
}

func readReason(r io.Reader) string {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "(no reason)"
	}
	msg := make([]byte, min(binary.BigEndian.Uint32(b[:]), 1024))
	n, _ := io.ReadFull(r, msg)
	return string(msg[:n])
}

// Client is a minimal RFB client: enough to drive the console from tests. It is not safe
// for concurrent use, except that Close may be called at any time.
type Client struct {
	Init ServerInit

	conn net.Conn
	r    *bufio.Reader
	pf   PixelFormat
	img  *image.RGBA
}

// Dial connects to addr and performs the handshake; ctx bounds both.
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, err := NewClient(conn)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient performs the handshake on conn. The caller keeps ownership of deadlines.
func NewClient(conn net.Conn) (*Client, error) {
	r := bufio.NewReader(conn)
	init, err := handshake(conn, r)
	if err != nil {
		return nil, err
	}
	if err := init.PixelFormat.validate(); err != nil {
		return nil, err
	}
	if int(init.Width)*int(init.Height) > maxClientFramebuffer {
		return nil, fmt.Errorf("rfb: framebuffer %dx%d too large", init.Width, init.Height)
	}
	return &Client{
		Init: init, conn: conn, r: r, pf: init.PixelFormat,
		img: image.NewRGBA(image.Rect(0, 0, int(init.Width), int(init.Height))),
	}, nil
}

// Conn is the underlying connection, e.g. to set deadlines.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Image is the framebuffer as decoded so far; ReadUpdate updates it in place and replaces
// it when the server changes the desktop size.
func (c *Client) Image() *image.RGBA { return c.img }

// SetPixelFormat asks the server for pf and decodes later updates with it.
func (c *Client) SetPixelFormat(pf PixelFormat) error {
	if err := pf.validate(); err != nil {
		return err
	}
	b := make([]byte, 20)
	b[0] = msgSetPixelFormat
	pf.marshal(b[4:])
	if _, err := c.conn.Write(b); err != nil {
		return err
	}
	c.pf = pf
	return nil
}

// SetEncodings announces the encodings the client accepts, e.g. EncodingRaw and
// EncodingDesktopSize.
func (c *Client) SetEncodings(encs ...int32) error {
	b := []byte{msgSetEncodings, 0, byte(len(encs) >> 8), byte(len(encs))}
	for _, e := range encs {
		b = binary.BigEndian.AppendUint32(b, uint32(e))
	}
	_, err := c.conn.Write(b)
	return err
}

// RequestUpdate sends a FramebufferUpdateRequest for the whole screen.
func (c *Client) RequestUpdate(incremental bool) error {
	b := []byte{msgFBUpdateRequest, boolByte(incremental), 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[6:], uint16(c.img.Rect.Dx()))
	binary.BigEndian.PutUint16(b[8:], uint16(c.img.Rect.Dy()))
	_, err := c.conn.Write(b)
	return err
}

// SendKey sends one KeyEvent.
func (c *Client) SendKey(keysym uint32, down bool) error {
	b := []byte{msgKeyEvent, boolByte(down), 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], keysym)
	_, err := c.conn.Write(b)
	return err
}

// Type presses and releases a key for each ASCII character of s; '\n' is Return.
func (c *Client) Type(s string) error {
	for i := 0; i < len(s); i++ {
		k := uint32(s[i])
		if s[i] == '\n' {
			k = KeyReturn
		}
		if err := c.SendKey(k, true); err != nil {
			return err
		}
		if err := c.SendKey(k, false); err != nil {
			return err
		}
	}
	return nil
}

// SendCtrlAltDel sends the key sequence noVNC's "Send Ctrl-Alt-Del" button sends.
func (c *Client) SendCtrlAltDel() error {
	for _, k := range []struct {
		sym  uint32
		down bool
	}{{KeyControlL, true}, {KeyAltL, true}, {KeyDelete, true}, {KeyDelete, false}, {KeyAltL, false}, {KeyControlL, false}} {
		if err := c.SendKey(k.sym, k.down); err != nil {
			return err
		}
	}
	return nil
}

// SendPointer sends one PointerEvent.
func (c *Client) SendPointer(buttons uint8, x, y uint16) error {
	b := []byte{msgPointerEvent, buttons, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], x)
	binary.BigEndian.PutUint16(b[4:], y)
	_, err := c.conn.Write(b)
	return err
}

// SendCutText sends ClientCutText (Latin-1 text, which the console types).
func (c *Client) SendCutText(text string) error {
	b := []byte{msgClientCutText, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], uint32(len(text)))
	_, err := c.conn.Write(append(b, text...))
	return err
}

// ReadUpdate reads server messages until a FramebufferUpdate, applies its Raw and
// DesktopSize rectangles to Image and returns the rectangles that carried pixels.
// Bell and ServerCutText messages are skipped.
func (c *Client) ReadUpdate() ([]image.Rectangle, error) {
	for {
		t, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch t {
		case msgFramebufferUpdate:
			return c.readUpdate()
		case msgBell:
		case msgServerCutText:
			var b [7]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n := binary.BigEndian.Uint32(b[3:])
			if n > MaxCutText {
				return nil, fmt.Errorf("rfb: ServerCutText of %d bytes", n)
			}
			if _, err := c.r.Discard(int(n)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("rfb: unexpected server message type %d", t)
		}
	}
}

func (c *Client) readUpdate() ([]image.Rectangle, error) {
	var b [12]byte
	if _, err := io.ReadFull(c.r, b[:3]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	var rects []image.Rectangle
	bpp := int(c.pf.BPP / 8)
	row := make([]byte, 0, c.img.Rect.Dx()*bpp)
	for range n {
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return nil, err
		}
		x, y := int(binary.BigEndian.Uint16(b[0:])), int(binary.BigEndian.Uint16(b[2:]))
		w, h := int(binary.BigEndian.Uint16(b[4:])), int(binary.BigEndian.Uint16(b[6:]))
		r := image.Rect(x, y, x+w, y+h)
		switch enc := int32(binary.BigEndian.Uint32(b[8:])); enc {
		case EncodingDesktopSize:
			if w*h > maxClientFramebuffer {
				return nil, fmt.Errorf("rfb: framebuffer %dx%d too large", w, h)
			}
			c.img = image.NewRGBA(image.Rect(0, 0, w, h))
			c.Init.Width, c.Init.Height = uint16(w), uint16(h)
			row = make([]byte, 0, w*bpp)
		case EncodingRaw:
			if !r.In(c.img.Rect) {
				return nil, fmt.Errorf("rfb: rectangle %v outside framebuffer %v", r, c.img.Rect)
			}
			for py := r.Min.Y; py < r.Max.Y; py++ {
				row = row[:w*bpp]
				if _, err := io.ReadFull(c.r, row); err != nil {
					return nil, err
				}
				for px := 0; px < w; px++ {
					cr, cg, cb := c.pf.decodePixel(row[px*bpp : (px+1)*bpp])
					c.img.SetRGBA(r.Min.X+px, py, color.RGBA{cr, cg, cb, 0xff})
				}
			}
			rects = append(rects, r)
		default:
			return nil, errors.New("rfb: unsupported encoding " + fmt.Sprint(enc))
		}
	}
	return rects, nil
}
