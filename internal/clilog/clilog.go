// Package clilog is the log/slog handler of porter's command line: one plain
// line per record, "host module: message key=value ...", with the time only
// in verbose mode, so a person at a terminal sees progress and a pipe sees
// lines it can grep.
package clilog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// Handler writes records as plain lines.
type Handler struct {
	mu      *sync.Mutex
	w       io.Writer
	level   slog.Level
	verbose bool
	attrs   []slog.Attr
	prefix  string
}

// New returns a handler writing to w; verbose shows debug records and times.
func New(w io.Writer, verbose bool) *Handler {
	h := &Handler{mu: &sync.Mutex{}, w: w, level: slog.LevelInfo, verbose: verbose}
	if verbose {
		h.level = slog.LevelDebug
	}
	return h
}

// Enabled reports whether l is shown.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

// Handle writes one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if h.verbose {
		b.WriteString(r.Time.Format(time.TimeOnly))
		b.WriteByte(' ')
	}
	if r.Level != slog.LevelInfo {
		b.WriteString(r.Level.String())
		b.WriteByte(' ')
	}
	var host, module string
	var rest []slog.Attr
	collect := func(a slog.Attr) bool {
		switch a.Key {
		case "host", "module":
			// The first wins: a deploy's logger names the [hosts] entry; a
			// package below may add its own address.
			if a.Key == "host" && host == "" {
				host = a.Value.String()
			} else if a.Key == "module" && module == "" {
				module = a.Value.String()
			} else {
				rest = append(rest, slog.String("address", a.Value.String()))
			}
		default:
			rest = append(rest, a)
		}
		return true
	}
	for _, a := range h.attrs {
		collect(a)
	}
	r.Attrs(collect)
	// What is logged may come from a host (a record's field, a command's
	// output): its control characters are escaped, and a value that holds
	// any, or a line break, is quoted, so that it can neither act on the
	// terminal nor start a line of its own.
	if host != "" {
		b.WriteString("[" + remote.Printable(host) + "] ")
	}
	if module != "" {
		b.WriteString(remote.Printable(module) + ": ")
	}
	b.WriteString(remote.Printable(r.Message))
	for _, a := range rest {
		v := a.Value.String()
		if strings.ContainsAny(v, " \t\n\"=") || v == "" || remote.Printable(v) != v {
			v = strconv.Quote(v)
		}
		b.WriteString(" " + h.prefix + a.Key + "=" + v)
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

// WithGroup returns a handler that prefixes later keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
