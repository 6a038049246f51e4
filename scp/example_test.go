package scp_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path"
	"path/filepath"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// ExampleCopyConfigFile copies this environment's settings next to the
// module's source: config/<--config>/local_settings.py ->
// <path>/local_settings.py, mode kept. The host here is portertest's
// in-process server, so that the example runs.
func ExampleCopyConfigFile() {
	ctx := context.Background()
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	dir, err := os.MkdirTemp("", "scp-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	project, appPath := filepath.Join(dir, "project"), filepath.Join(dir, "srv", "app")
	writeFile(filepath.Join(project, "project.ini"), "[project]\ndepends = app\n[hosts]\nprod = deploy@web1.example.com\n", 0o644)
	writeFile(filepath.Join(project, "app", "app.ini"), "[module]\npath = "+appPath+"\n", 0o644)
	writeFile(filepath.Join(project, "app", "config", "production", "local_settings.py"), "SECRET = 's3cr3t'\n", 0o600)

	p, err := porter.LoadProject(project)
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "app", porter.OnHost("prod"), porter.WithConfig("production"),
		porter.WithConnection(h), porter.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	if err := scp.CopyConfigFile(ctx, m, "local_settings.py"); err != nil {
		log.Fatal(err)
	}

	copied := filepath.Join(appPath, "local_settings.py")
	b, err := os.ReadFile(copied)
	if err != nil {
		log.Fatal(err)
	}
	st, err := os.Stat(copied)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v %s", st.Mode().Perm(), b)
	// Output: -rw------- SECRET = 's3cr3t'
}

// ExampleCopyConfigFile_deploymentHook copies the settings from a module's
// hook, once the source is sent. It is compiled, not run: a hook is
// registered once per program.
func ExampleCopyConfigFile_deploymentHook() {
	porter.RegisterDeployment("example-api", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			return scp.CopyConfigFile(ctx, m, "local_settings.py")
		})
		return nil
	})
}

// ExampleReplacePlaceholders fills the placeholders of a config file on the
// host; a value is written as it is, never run. The host here is
// portertest's in-process server, so that the example runs.
func ExampleReplacePlaceholders() {
	ctx := context.Background()
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	dir, err := os.MkdirTemp("", "scp-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "app.conf")
	writeFile(conf, "command=__env__/bin/gunicorn\ndirectory=__project__\nuser=__user__\n", 0o644)

	err = scp.ReplacePlaceholders(ctx, h, conf, map[string]string{
		"env":     "/srv/app/.venv",
		"project": "/srv/app",
		"user":    "$(whoami)",
	})
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// command=/srv/app/.venv/bin/gunicorn
	// directory=/srv/app
	// user=$(whoami)
}

// ExampleReplacePlaceholders_deploymentHook fills __env__ and __project__
// in <path>/app.conf from a module's hook, once the source is sent. It is
// compiled, not run: a hook is registered once per program.
func ExampleReplacePlaceholders_deploymentHook() {
	porter.RegisterDeployment("example-placeholders", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			return scp.ReplacePlaceholders(ctx, m.Host(), path.Join(m.Path(), "app.conf"),
				map[string]string{"env": path.Join(m.Path(), ".venv"), "project": m.Path()})
		})
		return nil
	})
}

// writeFile writes content to name with mode, making its directory.
func writeFile(name, content string, mode os.FileMode) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		log.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		log.Fatal(err)
	}
}
