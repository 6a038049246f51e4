package liveview

import (
	"io"
	"sync"

	"github.com/vbauerster/cupwriter"
)

// screen is mpb's console writer (cupwriter, which moves the cursor back
// up over the last drawing before the next) that counts its drawings, so
// that Redraw can wait for one.
type screen struct {
	*cupwriter.Writer
	shut chan any // closed when mpb shut down

	mu    sync.Mutex
	cond  *sync.Cond
	count int
}

func newScreen(out io.Writer) *screen {
	s := &screen{Writer: cupwriter.New(out, true), shut: make(chan any)}
	s.cond = sync.NewCond(&s.mu)
	go func() {
		<-s.shut
		s.mu.Lock()
		s.count = -1 // no drawing comes any more
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	return s
}

// Flush writes a drawing of lines lines and what was logged above it.
func (s *screen) Flush(lines int) error {
	err := s.Writer.Flush(lines)
	s.mu.Lock()
	if s.count >= 0 {
		s.count++
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	return err
}

// drawn is how many drawings were made.
func (s *screen) drawn() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// waitDrawn waits until more than n drawings were made, or mpb shut down.
func (s *screen) waitDrawn(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.count >= 0 && s.count <= n {
		s.cond.Wait()
	}
}

// logWriter writes log lines above the view while it runs, and straight to
// the output after.
type logWriter struct {
	mu   sync.Mutex
	view io.Writer // nil after Close
	out  io.Writer
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.view != nil {
		n, err := w.view.Write(b)
		if err == nil {
			return n, nil
		}
		w.view = nil // mpb shut down (it could not draw): past it, then
	}
	return w.out.Write(b)
}

// direct makes the writes go straight to the output from now on.
func (w *logWriter) direct() {
	w.mu.Lock()
	w.view = nil
	w.mu.Unlock()
}
