// Package rfb is a small RFB (VNC) 3.8 server that draws a text console, plus a minimal
// client for tests. It backs the browser console (noVNC) of simulated VMs: a person sees a
// boot log and a login prompt, and tests can type keys and read the screen back as text.
//
// Only what noVNC and the tests need is implemented: security type None, Raw encoding,
// true-colour pixel formats of 8, 16 or 32 bits, and the DesktopSize pseudo-encoding.
package rfb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message and encoding numbers from RFC 6143.
const (
	msgSetPixelFormat    = 0
	msgSetEncodings      = 2
	msgFBUpdateRequest   = 3
	msgKeyEvent          = 4
	msgPointerEvent      = 5
	msgClientCutText     = 6
	msgFramebufferUpdate = 0
	msgBell              = 2
	msgServerCutText     = 3

	// EncodingRaw is the only pixel encoding the server sends.
	EncodingRaw int32 = 0
	// EncodingDesktopSize announces a framebuffer size change (pseudo-encoding).
	EncodingDesktopSize int32 = -223

	securityNone = 1
)

// MaxCutText bounds ClientCutText (and ServerCutText in the client): a paste is typed
// into the console, so anything larger is abuse, not a clipboard.
const MaxCutText = 1 << 20

// Keysyms the console reacts to (X11 keysymdef.h). Printable ASCII keysyms equal their
// character code.
const (
	KeyBackSpace = 0xff08
	KeyTab       = 0xff09
	KeyReturn    = 0xff0d
	KeyEscape    = 0xff1b
	KeyKPEnter   = 0xff8d
	KeyKPDelete  = 0xff9f
	KeyShiftL    = 0xffe1
	KeyShiftR    = 0xffe2
	KeyControlL  = 0xffe3
	KeyControlR  = 0xffe4
	KeyAltL      = 0xffe9
	KeyAltR      = 0xffea
	KeyDelete    = 0xffff
)

// ErrServerClosed is returned by ServeConn after Server.Close.
var ErrServerClosed = errors.New("rfb: server closed")

// PixelFormat is the RFB PIXEL_FORMAT structure. Only true-colour formats are supported.
type PixelFormat struct {
	BPP, Depth                      uint8
	BigEndian, TrueColour           bool
	RedMax, GreenMax, BlueMax       uint16
	RedShift, GreenShift, BlueShift uint8
}

// DefaultPixelFormat is what the server announces: 32 bpp little-endian XRGB, which
// noVNC and most viewers take without conversion.
var DefaultPixelFormat = PixelFormat{
	BPP: 32, Depth: 24, TrueColour: true,
	RedMax: 255, GreenMax: 255, BlueMax: 255,
	RedShift: 16, GreenShift: 8, BlueShift: 0,
}

// ServerInit is what the server sends after the handshake.
type ServerInit struct {
	Width, Height uint16
	PixelFormat   PixelFormat
	Name          string
}

func (pf PixelFormat) marshal(b []byte) {
	_ = b[15]
	b[0], b[1] = pf.BPP, pf.Depth
	b[2], b[3] = boolByte(pf.BigEndian), boolByte(pf.TrueColour)
	binary.BigEndian.PutUint16(b[4:], pf.RedMax)
	binary.BigEndian.PutUint16(b[6:], pf.GreenMax)
	binary.BigEndian.PutUint16(b[8:], pf.BlueMax)
	b[10], b[11], b[12] = pf.RedShift, pf.GreenShift, pf.BlueShift
	b[13], b[14], b[15] = 0, 0, 0
}

func unmarshalPixelFormat(b []byte) PixelFormat {
	_ = b[15]
	return PixelFormat{
		BPP: b[0], Depth: b[1], BigEndian: b[2] != 0, TrueColour: b[3] != 0,
		RedMax:   binary.BigEndian.Uint16(b[4:]),
		GreenMax: binary.BigEndian.Uint16(b[6:]),
		BlueMax:  binary.BigEndian.Uint16(b[8:]),
		RedShift: b[10], GreenShift: b[11], BlueShift: b[12],
	}
}

// validate rejects what encodePixel/decodePixel cannot handle; colour maps would need
// SetColourMapEntries, which no client we serve asks for.
func (pf PixelFormat) validate() error {
	if !pf.TrueColour {
		return errors.New("rfb: colour-map pixel formats are not supported")
	}
	if pf.BPP != 8 && pf.BPP != 16 && pf.BPP != 32 {
		return fmt.Errorf("rfb: %d bits per pixel is not supported", pf.BPP)
	}
	if pf.RedMax == 0 || pf.GreenMax == 0 || pf.BlueMax == 0 {
		return errors.New("rfb: pixel format has a zero colour maximum")
	}
	if pf.RedShift >= pf.BPP || pf.GreenShift >= pf.BPP || pf.BlueShift >= pf.BPP {
		return errors.New("rfb: pixel format shift exceeds the pixel size")
	}
	return nil
}

// encodePixel writes an 8-bit-per-channel colour in pf into b (len BPP/8).
func (pf PixelFormat) encodePixel(b []byte, r, g, bl uint8) {
	v := scale(r, pf.RedMax)<<pf.RedShift | scale(g, pf.GreenMax)<<pf.GreenShift | scale(bl, pf.BlueMax)<<pf.BlueShift
	putPixel(b, v, pf.BigEndian)
}

// decodePixel is the inverse of encodePixel, back to 8 bits per channel.
func (pf PixelFormat) decodePixel(b []byte) (r, g, bl uint8) {
	v := getPixel(b, pf.BigEndian)
	return unscale(v>>pf.RedShift, pf.RedMax), unscale(v>>pf.GreenShift, pf.GreenMax), unscale(v>>pf.BlueShift, pf.BlueMax)
}

func scale(c uint8, max uint16) uint32 { return (uint32(c)*uint32(max) + 127) / 255 }

func unscale(v uint32, max uint16) uint8 {
	return uint8(((v&uint32(max))*255 + uint32(max)/2) / uint32(max))
}

func putPixel(b []byte, v uint32, big bool) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		if big {
			binary.BigEndian.PutUint16(b, uint16(v))
		} else {
			binary.LittleEndian.PutUint16(b, uint16(v))
		}
	case 4:
		if big {
			binary.BigEndian.PutUint32(b, v)
		} else {
			binary.LittleEndian.PutUint32(b, v)
		}
	}
}

func getPixel(b []byte, big bool) uint32 {
	switch len(b) {
	case 1:
		return uint32(b[0])
	case 2:
		if big {
			return uint32(binary.BigEndian.Uint16(b))
		}
		return uint32(binary.LittleEndian.Uint16(b))
	default:
		if big {
			return binary.BigEndian.Uint32(b)
		}
		return binary.LittleEndian.Uint32(b)
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
