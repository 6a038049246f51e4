package crontab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// describeShip says where ship would copy the crontab.
func (p *Plugin) describeShip(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	l, err := scp.DescribeCopy(m, p.local, path.Join(m.Path(), p.base))
	if err != nil {
		return nil, err
	}
	return []string{l}, nil
}

// describeInstall says what install would do, and how the crontab it
// would install compares with the one the host has now (crontab -l, which
// changes nothing).
func (p *Plugin) describeInstall(ctx context.Context, m *porter.Module, _ any) ([]string, error) {
	file := path.Join(m.Path(), p.base)
	note, err := p.compare(ctx, m)
	if err != nil {
		return nil, err
	}
	if !m.FlagBool(FlagUpdateCrontab) {
		return []string{"skip install crontab " + file + ": --" + FlagUpdateCrontab + " not given (" + note + ")"}, nil
	}
	return []string{
		porter.DescribeRun(listCommand) + " (keep the installed crontab, to put it back if the deploy fails)",
		porter.DescribeRun(installCommand(file)) + " (" + note + ")",
	}, nil
}

// compare says how the module's crontab compares with the installed one.
func (p *Plugin) compare(ctx context.Context, m *porter.Module) (string, error) {
	local, err := os.ReadFile(p.local)
	if err != nil {
		return "", fmt.Errorf("read the crontab: %w", err)
	}
	had, now, err := installed(ctx, m.Host())
	switch {
	case err != nil:
		return fmt.Sprintf("%s fails now, so would the install: %s", listCommand, remote.Printable(err.Error())), nil
	case !had:
		return "no crontab is installed now", nil
	case bytes.Equal(now, local):
		return "the same as the installed crontab", nil
	}
	return fmt.Sprintf("differs from the installed crontab: %d lines now, %d in the new one", lines(now), lines(local)), nil
}

// lines counts the lines of b, the last one unterminated or not.
func lines(b []byte) int {
	n := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// describeUndo says what undo would put back.
func (p *Plugin) describeUndo(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	if !m.FlagBool(FlagUpdateCrontab) {
		return []string{"skip restore crontab: --" + FlagUpdateCrontab + " not given, so the deploy installs none"}, nil
	}
	return []string{
		porter.DescribeRun(restoreCommand) + " with the crontab kept at deploy-finish, once the new one is installed",
		porter.DescribeRun(removeCommand) + " instead, when no crontab was installed before",
	}, nil
}

// describeRollback says what rollback would install: with a rollback's
// payload, the release rolled back to's crontab; in a deploy's plan,
// which has none, what a rollback would do.
func (p *Plugin) describeRollback(_ context.Context, m *porter.Module, payload any) ([]string, error) {
	info, ok := payload.(porter.RollbackInfo)
	if !ok {
		return []string{"install, after a rollback, the crontab of the release it goes back to, if the installed crontab is the one of the release it leaves"}, nil
	}
	return []string{porter.DescribeRun(installCommand(path.Join(m.Path(), p.base))) +
		" (if the installed crontab is the one of release " + info.From.ID + ")"}, nil
}
