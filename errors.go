package porter

import "strings"

// alsoErr is an error and what went wrong after it (an undo, the lock's
// release), on one line: "first; and then: second". errors.Is and As see
// both.
type alsoErr []error

func (e alsoErr) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; and then: ")
}

func (e alsoErr) Unwrap() []error { return e }

// also returns err with more appended (nil when both are nil), as one line.
func also(err, more error) error {
	switch {
	case more == nil:
		return err
	case err == nil:
		return more
	}
	if a, ok := err.(alsoErr); ok {
		return append(a, more)
	}
	return alsoErr{err, more}
}
