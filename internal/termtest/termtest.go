// Package termtest plays what a program wrote to a terminal onto a screen
// of text, for tests of what a person would see: the final screen, the
// frames a live view drew, and any escape sequence that is unknown or
// left unfinished. It knows the few sequences a line-based live view uses:
// the cursor up (ESC [ n A), erase to the end of the screen (ESC [ J) or
// of the line (ESC [ K); "\n" starts the next line at its first column, as
// a terminal's output (ONLCR) does.
package termtest

import (
	"fmt"
	"strconv"
	"strings"
)

// Screen is what the output left on the terminal.
type Screen struct {
	// Lines are the screen's lines, the trailing empty ones left out.
	Lines []string
	// Row and Col are where the cursor ended.
	Row, Col int
	// Frames are the drawings of a live view: each time the cursor moved
	// up to draw over what was there, the lines it moved over, as they
	// were (without trailing blanks).
	Frames [][]string
}

// Play plays out on an empty screen. An escape sequence it does not know,
// or one that out ends in the middle of, is an error.
func Play(out []byte) (*Screen, error) {
	var rows [][]rune
	s := &Screen{}
	put := func(r rune) {
		for len(rows) <= s.Row {
			rows = append(rows, nil)
		}
		for len(rows[s.Row]) < s.Col {
			rows[s.Row] = append(rows[s.Row], ' ')
		}
		if s.Col < len(rows[s.Row]) {
			rows[s.Row][s.Col] = r
		} else {
			rows[s.Row] = append(rows[s.Row], r)
		}
		s.Col++
	}
	text := []rune(string(out))
	for i := 0; i < len(text); i++ {
		switch r := text[i]; r {
		case '\n':
			s.Row, s.Col = s.Row+1, 0
		case '\r':
			s.Col = 0
		case '\x1b':
			end, err := s.escape(text, i, &rows)
			if err != nil {
				return nil, err
			}
			i = end
		default:
			if r < ' ' || r == 0x7f {
				return nil, fmt.Errorf("control character %q at %d", r, i)
			}
			put(r)
		}
	}
	s.Lines = trim(rows)
	return s, nil
}

// escape does the sequence that starts at text[i] and returns where it ends.
func (s *Screen) escape(text []rune, i int, rows *[][]rune) (int, error) {
	if i+1 >= len(text) || text[i+1] != '[' {
		return 0, fmt.Errorf("escape sequence left open or unknown at %d: %q", i, string(text[i:min(i+8, len(text))]))
	}
	j := i + 2
	for j < len(text) && text[j] >= '0' && text[j] <= '9' {
		j++
	}
	if j >= len(text) {
		return 0, fmt.Errorf("escape sequence left open at %d: %q", i, string(text[i:]))
	}
	n := 0
	if j > i+2 {
		n, _ = strconv.Atoi(string(text[i+2 : j]))
	}
	switch text[j] {
	case 'A':
		n = max(n, 1)
		from := max(s.Row-n, 0)
		var frame []string
		for r := from; r < s.Row && r < len(*rows); r++ {
			frame = append(frame, strings.TrimRight(string((*rows)[r]), " "))
		}
		s.Frames = append(s.Frames, frame)
		s.Row = from
	case 'J', 'K':
		if n != 0 {
			return 0, fmt.Errorf("unknown erase %q at %d", string(text[i:j+1]), i)
		}
		if s.Row < len(*rows) && s.Col < len((*rows)[s.Row]) {
			(*rows)[s.Row] = (*rows)[s.Row][:s.Col]
		}
		if text[j] == 'J' && s.Row+1 < len(*rows) {
			*rows = (*rows)[:s.Row+1]
		}
	default:
		return 0, fmt.Errorf("unknown escape sequence %q at %d", string(text[i:j+1]), i)
	}
	return j, nil
}

func trim(rows [][]rune) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
