package rfb

import (
	"image"
	"strings"
)

// A character cell is 8x16 like a VGA text console; the 6x13 glyph sits inside with a
// one-pixel margin, which leaves room for the underline cursor.
const (
	cellW = 8
	cellH = 16
)

// Palette indexes. The framebuffer stores one index per pixel, so converting to a
// client's pixel format is a table lookup and the framebuffer costs w*h bytes.
const (
	colBackground = iota
	colText
	colGreen
	colBright
	numColours
)

var palette = [numColours][3]uint8{
	colBackground: {0x00, 0x00, 0x00},
	colText:       {0xc0, 0xc0, 0xc0},
	colGreen:      {0x55, 0xff, 0x55},
	colBright:     {0xff, 0xff, 0xff},
}

// attrCursor marks the cell under the cursor in console.drawn so moving the cursor
// shows up in the diff like any other change.
const attrCursor = 0x80

// cell is one character; ch 0 means never written (or erased), which Text trims, while a
// typed space is kept so "login: " keeps its trailing blank.
type cell struct {
	ch   byte
	attr uint8
}

// console is a minimal text terminal: a cell grid, a cursor, wrap and scroll. It renders
// by diffing the grid against what the framebuffer shows, so callers never track damage.
// It is not safe for concurrent use; Server guards it.
type console struct {
	w, h       int
	cols, rows int
	grid       []cell
	drawn      []cell
	fb         []uint8
	cx, cy     int
	attr       uint8
}

func newConsole(w, h int) *console {
	c := &console{}
	c.setSize(w, h)
	return c
}

// setSize reallocates everything; the framebuffer starts blank, which matches an
// all-empty drawn grid, so the next render paints exactly the non-empty cells.
func (c *console) setSize(w, h int) {
	c.w, c.h = w, h
	c.cols, c.rows = w/cellW, h/cellH
	c.grid = make([]cell, c.cols*c.rows)
	c.drawn = make([]cell, c.cols*c.rows)
	c.fb = make([]uint8, w*h)
	c.cx, c.cy = 0, 0
	c.attr = colText
}

// resize keeps the bottom of the text (where the cursor is) visible in the new geometry.
func (c *console) resize(w, h int) {
	old, oldCols, oldRows, cx, cy := c.grid, c.cols, c.rows, c.cx, c.cy
	c.setSize(w, h)
	shift := max(0, cy+1-c.rows)
	for r := 0; r < c.rows && r+shift < oldRows; r++ {
		copy(c.grid[r*c.cols:(r+1)*c.cols], old[(r+shift)*oldCols:(r+shift+1)*oldCols])
	}
	c.cx, c.cy = min(cx, c.cols-1), cy-shift
}

func (c *console) clear() {
	clear(c.grid)
	c.cx, c.cy = 0, 0
	c.attr = colText
}

func (c *console) write(s string) {
	for i := 0; i < len(s); i++ {
		c.put(s[i])
	}
}

func (c *console) put(ch byte) {
	if ch == '\n' {
		c.newline()
		return
	}
	c.grid[c.cy*c.cols+c.cx] = cell{ch: ch, attr: c.attr}
	if c.cx++; c.cx == c.cols {
		c.newline()
	}
}

func (c *console) newline() {
	c.cx = 0
	if c.cy++; c.cy < c.rows {
		return
	}
	c.cy = c.rows - 1
	copy(c.grid, c.grid[c.cols:])
	clear(c.grid[(c.rows-1)*c.cols:])
}

// backspace erases the cell before the cursor, following a wrapped line back up.
func (c *console) backspace() {
	switch {
	case c.cx > 0:
		c.cx--
	case c.cy > 0:
		c.cy, c.cx = c.cy-1, c.cols-1
	default:
		return
	}
	c.grid[c.cy*c.cols+c.cx] = cell{}
}

// text returns the visible rows, right-trimmed of never-written cells, without trailing
// empty rows.
func (c *console) text() string {
	lines := make([]string, c.rows)
	last := -1
	buf := make([]byte, 0, c.cols)
	for r := range lines {
		row := c.grid[r*c.cols : (r+1)*c.cols]
		n := len(row)
		for n > 0 && row[n-1].ch == 0 {
			n--
		}
		if n == 0 {
			continue
		}
		buf = buf[:0]
		for _, cl := range row[:n] {
			buf = append(buf, max(cl.ch, ' '))
		}
		lines[r], last = string(buf), r
	}
	return strings.Join(lines[:last+1], "\n")
}

// render brings the framebuffer up to date and returns the damaged areas; adjacent
// changed rows are merged so typing or a newline yields one rectangle.
func (c *console) render() []image.Rectangle {
	var out []image.Rectangle
	for r := 0; r < c.rows; r++ {
		lo, hi := -1, -1
		for col := 0; col < c.cols; col++ {
			i := r*c.cols + col
			want := c.grid[i]
			if r == c.cy && col == c.cx {
				want.attr |= attrCursor
			}
			if want == c.drawn[i] {
				continue
			}
			c.drawn[i] = want
			c.drawCell(col, r, want)
			if lo < 0 {
				lo = col
			}
			hi = col
		}
		if lo < 0 {
			continue
		}
		rect := image.Rect(lo*cellW, r*cellH, (hi+1)*cellW, (r+1)*cellH)
		if n := len(out); n > 0 && out[n-1].Max.Y == rect.Min.Y {
			out[n-1] = out[n-1].Union(rect)
		} else {
			out = append(out, rect)
		}
	}
	return out
}

func (c *console) drawCell(col, row int, cl cell) {
	x0, y0 := col*cellW, row*cellH
	fg := cl.attr &^ attrCursor
	g := &glyphs[len(glyphs)-1]
	if cl.ch >= ' ' && cl.ch <= '~' {
		g = &glyphs[cl.ch-' ']
	}
	for y := 0; y < cellH; y++ {
		line := c.fb[(y0+y)*c.w+x0 : (y0+y)*c.w+x0+cellW]
		var bits byte
		if y >= 1 && y < 1+glyphH && cl.ch != 0 {
			// The glyph is 6 pixels wide; shifting right by one centres it in the 8-pixel cell.
			bits = g[y-1] >> 1
		}
		colour := fg
		if cl.attr&attrCursor != 0 && y >= cellH-2 {
			bits, colour = 0xff, colText
		}
		for x := range line {
			if bits&(0x80>>x) != 0 {
				line[x] = colour
			} else {
				line[x] = colBackground
			}
		}
	}
}
