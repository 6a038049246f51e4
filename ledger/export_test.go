package ledger

import "context"

// Renew renews the lease now (the loop does it every quarter lease).
func (l *Lock) Renew(ctx context.Context) error { return l.renew(ctx) }

// ThisMachine is the machine and boot a lock of this process records.
func ThisMachine() (machine, boot string) {
	s := thisProcess()
	return s.machine, s.bootID
}
