package porter

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/porter-deploy/porter/ledger"
)

// The Describers of porter's own handlers: what a plan lists under
// "porter".

// describeProcedure says how the procedure builds the module's files.
func describeProcedure(_ context.Context, m *Module, _ any) ([]string, error) {
	if m.Strategy() != StrategyReleases {
		return []string{"deploy in place into " + m.Base()}, nil
	}
	from := "empty: no release is current"
	if m.build != nil && m.build.previous != "" {
		from = "as a copy of the current release " + m.build.previous
	}
	out := []string{"build the release " + m.Path() + ", " + from}
	if len(m.rel.shared) > 0 {
		out = append(out, "link "+strings.Join(m.rel.shared, ", ")+" to "+path.Join(m.Base(), ledger.SharedDir))
	}
	return append(out, "switch "+m.CurrentPath()+" to it before deploy-finish",
		fmt.Sprintf("keep the %d newest good releases", m.rel.keep)), nil
}

// describeSend says what the source send would do; the plan's file list
// says which files.
func describeSend(ctx context.Context, m *Module, _ any) ([]string, error) {
	_, opts, skip, err := m.sourceSync(ctx)
	if err != nil {
		return nil, err
	}
	if skip != "" {
		return []string{"skip the source send: " + skip}, nil
	}
	del := "keep what the source no longer has"
	if opts.Delete {
		del = "delete what the source no longer has"
	}
	return []string{"sync the source to " + m.Path() + " (exclude " + strings.Join(opts.Exclude, " ") + "; " + del + ")"}, nil
}

// describeConfigCopy lists the config files it would copy.
func describeConfigCopy(_ context.Context, m *Module, _ any) ([]string, error) {
	files, err := m.configFiles()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		out = append(out, fmt.Sprintf("copy %s to %s (%04o)", m.project.rel(f.local), path.Join(m.Path(), f.name), f.info.Mode().Perm()))
	}
	return out, nil
}
