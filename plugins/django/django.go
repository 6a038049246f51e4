// Package django is a porter plugin for Django modules: it ships the
// environment's settings file and migrates the database:
//
//	[plugin:github.com/porter-deploy/porter/plugins/django]
//	settings_file = local_settings.py   ; in config/<--config>/ (this is the default)
//	settings_dir = mysite               ; where it goes, under the module's path (default: the path)
//	migrate = 0                         ; never migrate, even with --migrate-database
//
// After the send it copies config/<--config>/<settings_file> into the
// module's path (or path/settings_dir). With --migrate-database, unless
// migrate = 0, it then runs, in the module's path,
//
//	<virtualenv>/bin/python manage.py migrate --noinput
//
// where <virtualenv> is the virtualenv plugin's path (see virtualenv.Dir;
// default <module path>/.venv). Put the django section after the virtualenv
// one, so that the requirements are installed before the migration runs.
// (The original ran syncdb then migrate; syncdb is gone since Django 1.9.)
// --noinput keeps a migration from waiting for an answer nobody can give.
//
// Every path is quoted for the remote shell. A migration that was applied
// is not rolled back when the deploy fails later.
//
// In a plan (deploy --plan) it describes itself: the settings file it would
// copy and where (with its mode), and the migrate command it would run, or
// why it would not (--migrate-database not given, migrate = 0).
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/django"
package django

import (
	"context"
	"fmt"
	"path"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/virtualenv"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/django"

// FlagMigrateDatabase is the name of the --migrate-database flag.
const FlagMigrateDatabase = "migrate-database"

// DefaultSettingsFile is the config file shipped when the section names none.
const DefaultSettingsFile = "local_settings.py"

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the django plugin for one module on one host.
type Plugin struct {
	settingsFile, settingsDir string
	migrate                   bool
}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --migrate-database.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: FlagMigrateDatabase, Bool: true, Default: "false",
		Usage: "run manage.py migrate in the virtualenv after the send"}}
}

// ValidateSettings checks the section's keys and migrate's value.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	var p Plugin
	return p.read(s)
}

func (p *Plugin) read(s porter.Settings) error {
	if err := s.OnlyKeys("settings_file", "settings_dir", "migrate"); err != nil {
		return err
	}
	var err error
	if p.migrate, err = s.Bool("migrate", true); err != nil {
		return err
	}
	p.settingsFile = s.String("settings_file", DefaultSettingsFile)
	p.settingsDir = s.String("settings_dir", "")
	return nil
}

// RegisterSignalHandlers reads the section, checks that the settings file
// exists for the deploy's config, and adds the plugin's handler.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	s := m.PluginSettings()
	if err := p.read(s); err != nil {
		return err
	}
	if m.ConfigName() != "" {
		if _, err := scp.ConfigFile(m, p.settingsFile); err != nil {
			return fmt.Errorf("%s: settings_file: %w", s.Where(), err)
		}
	}
	m.PushSignalHandler(porter.SigSourcePostSend, p.postSend, porter.Describe(p.describe))
	return nil
}

// MigrateCommand returns the command that migrates the database of m.
func MigrateCommand(m *porter.Module) string {
	return "cd -- " + remote.Quote(m.Path()) + " && " +
		remote.Quote(path.Join(virtualenv.Dir(m), "bin", "python")) + " manage.py migrate --noinput"
}

// skipMigrate says why the migration does not run: "" when it runs.
// Without --migrate-database it is no skip for the report, only for a plan.
func (p *Plugin) skipMigrate(m *porter.Module) (why string, report bool) {
	switch {
	case !m.FlagBool(FlagMigrateDatabase):
		return "--" + FlagMigrateDatabase + " not given", false
	case !p.migrate:
		return "migrate = 0 in [plugin:" + Name + "]", true
	}
	return "", false
}

// describe says what postSend would do.
func (p *Plugin) describe(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	cp, err := scp.DescribeConfigCopy(m, p.settingsFile, p.settingsDir)
	if err != nil {
		return nil, err
	}
	if why, _ := p.skipMigrate(m); why != "" {
		return []string{cp, "skip migrate: " + why}, nil
	}
	return []string{cp, porter.DescribeRun(MigrateCommand(m))}, nil
}

func (p *Plugin) postSend(ctx context.Context, m *porter.Module, _ any) error {
	if err := scp.CopyConfigFile(ctx, m, p.settingsFile, p.settingsDir); err != nil {
		return err
	}
	if why, report := p.skipMigrate(m); why != "" {
		if report {
			m.Skip("migrate", why)
		}
		return nil
	}
	cmd := MigrateCommand(m)
	m.Log().Info("migrate", "command", cmd)
	out, err := m.Host().Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("migrate the database: %w: fix the migration, or install the requirements (--update-requirements) first", err)
	}
	if len(out.Stdout) > 0 {
		m.Log().Info("migrate output", "stdout", string(out.Stdout))
	}
	return nil
}
