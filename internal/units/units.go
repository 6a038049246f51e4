// Package units writes the figures of a transfer for people: sizes,
// rates and the time left, the same in the log lines and the live view.
package units

import (
	"strconv"
	"time"
)

// Rate writes bytes per second in MB/s, KB/s or B/s.
func Rate(bps float64) string {
	return scaled(bps) + "/s"
}

// Bytes writes a size in MB, KB or B.
func Bytes(n int64) string {
	return scaled(float64(n))
}

func scaled(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + " MB"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " B"
}

// Speed is the rate of bytes sent in elapsed and the time left to send
// total at that rate (0 only when nothing is left); ok is false when
// nothing is sent yet or no time has passed.
func Speed(bytes, total int64, elapsed time.Duration) (bps float64, left time.Duration, ok bool) {
	if bytes <= 0 || elapsed <= 0 {
		return 0, 0, false
	}
	bps = float64(bytes) / elapsed.Seconds()
	if rest := total - bytes; rest > 0 {
		left = max(time.Duration(float64(rest)/bps*float64(time.Second)), 1)
	}
	return bps, left, true
}
