package rfb

import (
	"context"
	"strings"
	"time"
)

// bootLog is what the console prints before the prompt; it only has to look like a VM
// starting, and "[  OK  ]" lines get a green OK like systemd's.
var bootLog = []string{
	"SeaBIOS (version 1.16.3-shepherd)",
	"Machine UUID 5e0f1c2a-7b1d-4c9e-9a51-shepherd0001",
	"Booting from Hard Disk...",
	"[    0.000000] Linux version 6.6.0-sim (builder@shepherd) #1 SMP PREEMPT_DYNAMIC",
	"[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=tty0",
	"[    0.213004] virtio_blk virtio1: [vda] 20971520 512-byte logical blocks (10.7 GB)",
	"[    0.481112] EXT4-fs (vda1): mounted filesystem with ordered data mode",
	"[  OK  ] Started Journal Service.",
	"[  OK  ] Reached target Local File Systems.",
	"[  OK  ] Started Network Manager.",
	"[  OK  ] Started OpenSSH server daemon.",
	"[  OK  ] Reached target Multi-User System.",
	"",
	"Shepherd simulated Linux 6.6.0-sim (tty1)",
	"",
}

// bootLocked clears the screen and prints the boot log, at once or line by line. One
// supervised goroutine animates at a time; a reboot during the animation just rewinds it,
// so a flood of Ctrl+Alt+Del cannot pile up goroutines.
func (s *Server) bootLocked() {
	s.con.clear()
	s.input = s.input[:0]
	s.booting = false
	// After Close the runner is being waited on, so no new task may start.
	if s.bootDelay <= 0 || s.closed {
		for _, l := range bootLog {
			s.bootLineLocked(l)
		}
		s.promptLocked()
		return
	}
	s.booting, s.bootNext = true, 1
	s.bootLineLocked(bootLog[0])
	if s.animating {
		return
	}
	s.animating = true
	step := s.bootDelay / time.Duration(len(bootLog)-1)
	s.run.Go("rfb-boot", func(ctx context.Context) error {
		t := time.NewTimer(step)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if !s.bootStep() {
				return nil
			}
			t.Reset(step)
		}
	})
}

// bootStep prints the next boot line; false when the boot has finished.
func (s *Server) bootStep() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.booting {
		s.bootLineLocked(bootLog[s.bootNext])
		if s.bootNext++; s.bootNext == len(bootLog) {
			s.booting = false
			s.promptLocked()
		}
		s.flushLocked()
	}
	s.animating = s.booting
	return s.booting
}

func (s *Server) bootLineLocked(l string) {
	switch {
	case strings.HasPrefix(l, "[  OK  ]"):
		s.con.write("[  ")
		s.con.attr = colGreen
		s.con.write("OK")
		s.con.attr = colText
		s.con.write("  ]" + l[len("[  OK  ]"):])
	case strings.HasPrefix(l, "SeaBIOS"):
		s.con.attr = colBright
		s.con.write(l)
		s.con.attr = colText
	default:
		s.con.write(l)
	}
	s.con.newline()
}

func (s *Server) promptLocked() {
	s.input = s.input[:0]
	s.con.write(s.hostname + " login: ")
}

// keyEvent applies one KeyEvent from c. Modifier state is per connection, so two viewers
// cannot combine into a Ctrl+Alt+Del.
func (s *Server) keyEvent(c *conn, key uint32, down bool) {
	var bit uint8
	switch key {
	case KeyControlL:
		bit = modCtrlL
	case KeyControlR:
		bit = modCtrlR
	case KeyAltL:
		bit = modAltL
	case KeyAltR:
		bit = modAltR
	}
	if bit != 0 {
		if down {
			c.mods |= bit
		} else {
			c.mods &^= bit
		}
		return
	}
	if !down {
		return
	}
	ctrl, alt := c.mods&(modCtrlL|modCtrlR) != 0, c.mods&(modAltL|modAltR) != 0
	s.mu.Lock()
	cad := ctrl && alt && (key == KeyDelete || key == KeyKPDelete)
	if cad {
		s.reboots++
		s.bootLocked()
	} else if !s.booting {
		s.typeLocked(key, ctrl, alt)
	}
	s.flushLocked()
	s.mu.Unlock()
	if cad && s.onCAD != nil {
		s.onCAD()
	}
}

// typeLocked is the login prompt: echo, erase, and refuse every login.
func (s *Server) typeLocked(key uint32, ctrl, alt bool) {
	switch {
	case ctrl && (key == 'c' || key == 'C'):
		s.con.write("^C")
		s.con.newline()
		s.promptLocked()
	case ctrl && (key == 'u' || key == 'U'):
		for range s.input {
			s.con.backspace()
		}
		s.input = s.input[:0]
	case ctrl || alt:
		// Other shortcuts mean nothing to a login prompt.
	case key >= ' ' && key <= '~':
		if len(s.input) < maxInput {
			s.input = append(s.input, byte(key))
			s.con.put(byte(key))
		}
	case key == KeyReturn || key == KeyKPEnter:
		s.con.newline()
		if len(s.input) > 0 {
			s.con.write("Login incorrect")
			s.con.newline()
			s.con.newline()
		}
		s.promptLocked()
	case key == KeyBackSpace:
		if n := len(s.input); n > 0 {
			s.input = s.input[:n-1]
			s.con.backspace()
		}
	}
}

// paste types ClientCutText as if it were keyed in; CR, LF and CRLF all end a line.
func (s *Server) paste(c *conn, text []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.booting {
		return
	}
	for _, b := range text {
		cr := c.lastCR
		c.lastCR = b == '\r'
		switch {
		case b == '\n' && cr:
		case b == '\n' || b == '\r':
			s.typeLocked(KeyReturn, false, false)
		case b == '\t':
			s.typeLocked(' ', false, false)
		default:
			s.typeLocked(uint32(b), false, false)
		}
	}
	s.flushLocked()
}
