// Package ledger keeps porter's bookkeeping of a module on a host, in
// <path>/.porter/<module>/ there: what the host runs (state.json, the
// [Record]), the deploys before it (history.jsonl), the deploy lock
// (lock.json) and, for modules deployed as releases, the state of each
// release (releases.json).
//
// A [Place] names one module on one host; every call is a method of it, so
// a module's name and its path can never be swapped.
//
// Everything read from a host is bounded: a state file larger than
// MaxFileSize is not porter's and is refused (ErrTooLarge), and text from it
// is shown with its control characters escaped.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/remote"
)

// Dir is the directory under a module's path where porter keeps, in a
// directory per module, its bookkeeping: <path>/.porter/<module>/. Two
// modules deployed to one path keep their own. The source sync never sends
// into it, deletes it or reports it.
const Dir = ".porter"

// HistoryLimit is how many deploys history.jsonl keeps.
const HistoryLimit = 100

// MaxFileSize is the most porter reads from a host of a state.json, a
// lock.json or a releases.json, and of the end of a history.jsonl: porter
// never writes more, so a larger file is not porter's, and reading it
// whole could exhaust the deploy program's memory.
const MaxFileSize = 1 << 20

// ErrTooLarge is wrapped by the error for a state file on a host that is
// larger than MaxFileSize.
var ErrTooLarge = errors.New("too large")

// A Place names a module on a host: the connection, the module's name and
// its path there.
type Place struct {
	Host   *remote.Host
	Module string // the module's name
	Path   string // the module's path on the host
}

// Dir returns the module's bookkeeping directory on the host.
func (p Place) Dir() string { return path.Join(p.Path, Dir, p.Module) }

// File returns the path of the bookkeeping file name on the host.
func (p Place) File(name string) string { return path.Join(p.Dir(), name) }

// String names the place for messages: "app at /srv/app on u@h:22".
func (p Place) String() string {
	s := p.Module + " at " + p.Path
	if p.Host != nil {
		s += " on " + p.Host.Name()
	}
	return s
}

func (p Place) hostName() string {
	if p.Host == nil {
		return "(no host)"
	}
	return p.Host.Name()
}

// sftp returns the host's SFTP client.
func (p Place) sftp(ctx context.Context) (*sftp.Client, error) {
	if p.Host == nil {
		return nil, fmt.Errorf("%s: no connection to the host", p)
	}
	return p.Host.SFTP(ctx)
}
