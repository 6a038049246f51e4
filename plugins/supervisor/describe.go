package supervisor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// The sudo commands of a launcher in conf_dir, with use_sudo.
func sudoCat(file string) string { return "sudo -n cat -- " + remote.Quote(file) }
func sudoRemove(file string) string {
	return "sudo -n rm -f -- " + remote.Quote(file)
}
func sudoMode(file string) string { return "sudo -n stat -c %a -- " + remote.Quote(file) }
func sudoInstall(staged, dst string, mode fs.FileMode) string {
	//porter:quoted the mode is four octal digits; the paths pass through remote.Quote
	return fmt.Sprintf("sudo -n install -m %04o -- %s %s", mode.Perm(), remote.Quote(staged), remote.Quote(dst))
}

// describeStop says what stop would run.
func (p *Plugin) describeStop(context.Context, *porter.Module, any) ([]string, error) {
	return []string{porter.DescribeRun(p.ctl("stop", p.groupPattern()))}, nil
}

// describeFinish says what finish would run.
func (p *Plugin) describeFinish(context.Context, *porter.Module, any) ([]string, error) {
	return []string{porter.DescribeRun(p.ctl("update")), porter.DescribeRun(p.ctl("start", p.groupPattern()))}, nil
}

// describeRestart says what restart would run after a rollback.
func (p *Plugin) describeRestart(context.Context, *porter.Module, any) ([]string, error) {
	return []string{porter.DescribeRun(p.ctl("restart", p.groupPattern()))}, nil
}

// describeCopy says whether copyLauncher would install the launcher, and
// how. It looks whether conf_dir has it as copyLauncher does (an SFTP stat,
// or sudo -n test -e with use_sudo), which changes nothing.
func (p *Plugin) describeCopy(ctx context.Context, m *porter.Module, _ any) ([]string, error) {
	dst := path.Join(p.cfg.confDir, p.cfg.name)
	exists, err := p.exists(ctx, m, dst)
	if err != nil {
		return []string{"fail: " + remote.Printable(err.Error())}, nil
	}
	if exists && !m.FlagBool(FlagUpdateLauncher) {
		return []string{"skip install launcher " + dst + ": it is there, and --" + FlagUpdateLauncher + " is not given"}, nil
	}
	var out []string
	if exists && p.cfg.useSudo {
		out = append(out, porter.DescribeRun(sudoCat(dst))+", "+porter.DescribeRun(sudoMode(dst))+" (keep the launcher there, to put it back if the deploy fails)")
	} else if exists {
		out = append(out, "keep "+dst+" (read over SFTP), to put it back if the deploy fails")
	}
	st, err := os.Stat(p.cfg.launcher)
	if err != nil {
		return nil, fmt.Errorf("copy supervisor launcher: %w", err)
	}
	staged := path.Join("DIR", p.cfg.name)
	cp, err := scp.DescribeCopy(m, p.cfg.launcher, staged)
	if err != nil {
		return nil, err
	}
	out = append(out, porter.DescribeRun(stagingCommand)+" (DIR, private to the SSH user)", cp, "send "+string(SigLauncherUpdated)+" with "+staged)
	if p.cfg.useSudo {
		out = append(out, porter.DescribeRun(sudoInstall(staged, dst, st.Mode())))
	} else {
		out = append(out, fmt.Sprintf("install it as %s (%04o), under a temporary name then renamed, over SFTP", dst, st.Mode().Perm()))
	}
	return append(out, "remove DIR"), nil
}

// describeUndo says what undo would put back: it depends on how far the
// deploy got, so each line says when it applies.
func (p *Plugin) describeUndo(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	dst := path.Join(p.cfg.confDir, p.cfg.name)
	restore := "put back " + dst + " as it was, or remove it where there was none, if this deploy installed it"
	if p.cfg.useSudo {
		restore = "put back " + dst + " as it was (staged in a directory of " + stagingCommand + ", then sudo -n install -m MODE, its mode before the deploy), or " +
			sudoRemove(dst) + " where there was none, if this deploy installed it"
	}
	return []string{
		restore,
		porter.DescribeRun(p.ctl("update")) + ", if supervisord read the new launcher",
		porter.DescribeRun(p.ctl("start", p.groupPattern())) + ", if this deploy stopped the group and did not start it again",
	}, nil
}
