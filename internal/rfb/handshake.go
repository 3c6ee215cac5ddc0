package rfb

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// handshake runs ProtocolVersion, Security, ClientInit and ServerInit under a deadline.
// RFB 3.3 and 3.7 clients are served too; they differ only in the security exchange.
func (c *conn) handshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.s.hsTimeout))
	if _, err := io.WriteString(c.nc, "RFB 003.008\n"); err != nil {
		return err
	}
	var v [12]byte
	if _, err := io.ReadFull(c.br, v[:]); err != nil {
		return fmt.Errorf("rfb: reading client version: %w", err)
	}
	major, minor, ok := parseVersion(v)
	if !ok || major != 3 || minor < 3 {
		return fmt.Errorf("rfb: unsupported client version %q", v[:])
	}
	if minor < 7 {
		// 3.3: the server picks the security type and there is no SecurityResult.
		if err := writeU32(c.nc, securityNone); err != nil {
			return err
		}
	} else {
		if _, err := c.nc.Write([]byte{1, securityNone}); err != nil {
			return err
		}
		t, err := c.br.ReadByte()
		if err != nil {
			return fmt.Errorf("rfb: reading security type: %w", err)
		}
		if t != securityNone {
			if minor >= 8 {
				const reason = "only security type None is supported"
				b := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), uint32(len(reason)))
				_, _ = c.nc.Write(append(b, reason...))
			}
			return fmt.Errorf("rfb: client chose security type %d", t)
		}
		if minor >= 8 {
			if err := writeU32(c.nc, 0); err != nil {
				return err
			}
		}
	}
	// The shared flag is ignored: every viewer shares the one console.
	if _, err := c.br.ReadByte(); err != nil {
		return fmt.Errorf("rfb: reading ClientInit: %w", err)
	}
	c.s.mu.Lock()
	w, h := c.s.con.w, c.s.con.h
	c.s.mu.Unlock()
	b := make([]byte, 24, 24+len(c.s.name))
	binary.BigEndian.PutUint16(b[0:], uint16(w))
	binary.BigEndian.PutUint16(b[2:], uint16(h))
	DefaultPixelFormat.marshal(b[4:20])
	binary.BigEndian.PutUint32(b[20:], uint32(len(c.s.name)))
	if _, err := c.nc.Write(append(b, c.s.name...)); err != nil {
		return err
	}
	// Some net.Conn adapters (websocket bridges) have no deadlines; that is not fatal.
	_ = c.nc.SetDeadline(time.Time{})
	return nil
}

// parseVersion reads "RFB xxx.yyy\n". Minor versions above 8 (Apple's 3.889) are
// treated as 3.8 by the caller, which only compares with 7 and 8.
func parseVersion(v [12]byte) (major, minor int, ok bool) {
	if string(v[:4]) != "RFB " || v[7] != '.' || v[11] != '\n' {
		return 0, 0, false
	}
	num := func(b []byte) (n int, ok bool) {
		for _, d := range b {
			if d < '0' || d > '9' {
				return 0, false
			}
			n = n*10 + int(d-'0')
		}
		return n, true
	}
	major, ok1 := num(v[4:7])
	minor, ok2 := num(v[8:11])
	return major, minor, ok1 && ok2
}

func writeU32(w io.Writer, v uint32) error {
	_, err := w.Write(binary.BigEndian.AppendUint32(nil, v))
	return err
}
