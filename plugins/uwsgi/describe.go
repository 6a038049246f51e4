package uwsgi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// maxPidFile bounds what a plan reads of a pid file.
const maxPidFile = 64

// catCommand reads a pid file on the host.
func catCommand(file string) string { return "cat -- " + remote.Quote(file) }

// reloadCommand makes the master pid reload its vassal.
func reloadCommand(pid int) string { return "kill -HUP " + strconv.Itoa(pid) }

// describeShip says which launchers ship would copy and which it keeps,
// looking at vassals_dir over SFTP as ship does, and the domains file.
func (p *Plugin) describeShip(ctx context.Context, m *porter.Module, _ any) ([]string, error) {
	out := []string{"skip the vassal launchers: emperor = false"}
	if p.emperor {
		out = nil
		c, err := m.Host().SFTP(ctx)
		if err != nil {
			return nil, fmt.Errorf("copy uwsgi launchers: %w", err)
		}
		update := m.FlagBool(FlagUpdateVassalLauncher)
		for _, l := range p.launchers {
			dst := path.Join(p.vassalsDir, l)
			_, statErr := c.Stat(dst)
			switch err := statErr; {
			case err == nil && !update:
				out = append(out, "skip copy launcher "+l+": "+dst+" is there, and --"+FlagUpdateVassalLauncher+" is not given")
				continue
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				out = append(out, fmt.Sprintf("fail: stat %s: %s", dst, remote.Printable(err.Error())))
				continue
			}
			line, err := scp.DescribeCopy(m, filepath.Join(p.dir, l), dst)
			if err != nil {
				return nil, err
			}
			if statErr == nil {
				line += ", keeping the one there to put it back if the deploy fails"
			}
			out = append(out, line)
		}
	}
	if p.copyDomains {
		line, err := scp.DescribeConfigCopy(m, DomainsFile)
		if err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, nil
}

// describeRestart says what restart would run: the pid files it reads,
// then a reload per master, with the pid each file holds now (read over
// SFTP, bounded, which changes nothing).
func (p *Plugin) describeRestart(ctx context.Context, m *porter.Module, _ any) ([]string, error) {
	if !m.FlagBool(FlagRestart) {
		return []string{"skip reload the uWSGI masters: --" + FlagRestart + " not given"}, nil
	}
	var out, reloads []string
	for _, l := range p.launchers {
		file := p.pidFile(l)
		out = append(out, porter.DescribeRun(catCommand(file)))
		pid, err := p.readPid(ctx, m, file)
		if err != nil {
			reloads = append(reloads, fmt.Sprintf("run: kill -HUP <the pid in %s> (reload %s; now %s: the deploy would fail)", file, l, remote.Printable(err.Error())))
			continue
		}
		reloads = append(reloads, porter.DescribeRun(reloadCommand(pid))+" (reload "+l+")")
	}
	return append(out, reloads...), nil
}

// readPid reads the pid file over SFTP, at most maxPidFile bytes.
func (p *Plugin) readPid(ctx context.Context, m *porter.Module, file string) (int, error) {
	c, err := m.Host().SFTP(ctx)
	if err != nil {
		return 0, err
	}
	f, err := c.Open(file)
	if err != nil {
		return 0, fmt.Errorf("cannot be read: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPidFile))
	if err != nil {
		return 0, fmt.Errorf("cannot be read: %w", err)
	}
	return parsePid(b)
}

// describeUndo says what undo would put back: the launchers ship would
// copy, in reverse order, each as it was before.
func (p *Plugin) describeUndo(context.Context, *porter.Module, any) ([]string, error) {
	if !p.emperor {
		return nil, nil
	}
	var out []string
	for i := len(p.launchers) - 1; i >= 0; i-- {
		out = append(out, "put back "+path.Join(p.vassalsDir, p.launchers[i])+" as it was, or remove it where there was none, if this deploy copied it")
	}
	return out, nil
}
