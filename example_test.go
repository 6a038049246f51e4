package porter_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command" // the example project uses it
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

func ExampleLoadProject() {
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	order, err := p.Order("demo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, p.HostNames(), order)
	// Output: basic [demo demo-fleet production] [shared api web]
}

func ExampleLoadModule() {
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	for _, host := range []string{"production", "demo"} {
		m, err := porter.LoadModule(p, "web", porter.OnHost(host))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(host, m.Path(), m.Settings().List("depends"))
	}
	// Output:
	// production /srv/basic/web [api]
	// demo basic/web [api]
}

func ExampleDeploy() {
	// A real SSH server for the example (portertest); a deploy program
	// leaves Address and Dial out and reaches the [hosts] address.
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	opts := porter.Options{
		Target: porter.Target{Host: "demo", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Logger: slog.New(slog.DiscardHandler),
	}
	for range 2 { // the second deploy finds every module up to date
		rep, err := porter.Deploy(context.Background(), p, opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range rep.Hosts[0].Modules {
			fmt.Printf("%s %s, files sent: %d\n", m.Module, m.Outcome, m.Sync.Sent)
		}
	}
	status, err := os.ReadFile(filepath.Join(srv.Home(), "basic/web/STATUS"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("web/STATUS: %s", status)
	fmt.Println("SSH connections:", srv.Connections())
	// Output:
	// shared deployed, files sent: 2
	// api deployed, files sent: 1
	// web deployed, files sent: 2
	// shared unchanged, files sent: 0
	// api unchanged, files sent: 0
	// web unchanged, files sent: 0
	// web/STATUS: web is live
	// SSH connections: 2
}

func ExampleRegisterDeployment() {
	// The Go form of the original's deployment.py: push, pop or replace the
	// module's handlers when it is loaded for a deploy.
	porter.RegisterDeployment("example-root", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			_, err := m.Host().Run(ctx, "touch "+remote.Quote(m.Path()+"/tmp/restart.txt"))
			return err
		})
		return nil
	})
}

type cdn struct{}

func (cdn) RegisterSignalHandlers(m *porter.Module) error {
	bucket := m.PluginSettings().String("bucket", "assets")
	m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
		if !m.FlagBool("purge-cdn") {
			m.Skip("purge the CDN", "--purge-cdn not given") // in the report, with this plugin as owner
			return nil
		}
		m.Log().Info("purging", "bucket", bucket)
		return nil
	})
	return nil
}

func (cdn) Flags() []porter.Flag {
	return []porter.Flag{{Name: "purge-cdn", Bool: true, Default: "false", Usage: "purge the CDN after the deploy"}}
}

func ExampleRegisterPlugin() {
	// In the plugin's package: its import path names it in an ini,
	// [plugin:github.com/acme/deploy/plugins/cdn].
	porter.RegisterPlugin("github.com/acme/deploy/plugins/cdn", func() porter.Plugin { return cdn{} })
}

func ExampleModule_SignalHandlerInfo() {
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "web", porter.OnHost("demo"))
	if err != nil {
		log.Fatal(err)
	}
	for _, sig := range []porter.Signal{porter.SigDeploy, porter.SigSourceSend, porter.SigDeployFinish} {
		for _, h := range m.SignalHandlerInfo(sig) {
			fmt.Printf("%s: %s\n", sig, porter.OwnerLabel(h.Owner))
		}
	}
	// Output:
	// deploy: porter
	// source-send: porter
	// deploy-finish: plugin github.com/porter-deploy/porter/plugins/command
}

func ExampleProject_Resolve() {
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	hosts, err := p.Resolve("demo-fleet,production")
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hosts {
		fmt.Println(h.Name, h.Address, "overrides:", h.Override)
	}
	// Output:
	// demo@web1.demo demo@web1.demo overrides: demo-fleet
	// demo@web2.demo demo@web2.demo overrides: demo-fleet
	// demo@web3.demo demo@web3.demo overrides: demo-fleet
	// production deploy@app.example.com overrides: production
}

func ExampleDeploy_fleet() {
	// Three real SSH servers for the example, taking one key (portertest);
	// a deploy program leaves Addresses and Dial out.
	hosts := []string{"demo@web1.demo", "demo@web2.demo", "demo@web3.demo"}
	fleet, err := portertest.StartFleet(make([]string, len(hosts)))
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()

	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	rep, err := porter.Deploy(context.Background(), p, porter.Options{
		Target: porter.Target{Host: "demo-fleet", Addresses: fleet.Addresses(hosts...), Dial: fleet.DialOptions()},
		Config: "testing",
		Batch:  2, // a rolling deploy: two hosts, then the third
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range rep.Hosts {
		fmt.Println(h.Host, h.Outcome(), len(h.Modules), "modules")
	}
	fmt.Println(rep.Totals()[porter.Deployed], "hosts deployed; to re-run:", rep.Rerun())
	// Output:
	// demo@web1.demo deployed 3 modules
	// demo@web2.demo deployed 3 modules
	// demo@web3.demo deployed 3 modules
	// 3 hosts deployed; to re-run: []
}

func ExamplePlan() {
	// A real SSH server for the example (portertest); a deploy program
	// leaves Address and Dial out and reaches the [hosts] address.
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	plan, err := porter.Plan(context.Background(), p, porter.PlanOptions{Options: porter.Options{
		Target: porter.Target{Host: "demo", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Logger: slog.New(slog.DiscardHandler),
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range plan.Hosts[0].Modules {
		fmt.Printf("%s: deploy %v (%s), %d files to send\n", m.Module, m.Deploy, m.Reasons[0], m.Sync.Sent)
		for _, s := range m.Signals {
			for _, h := range s.Handlers {
				if h.Owner != porter.OwnerPorter {
					fmt.Printf("  %s: %s: %q\n", s.Signal, porter.OwnerLabel(h.Owner), h.Lines)
				}
			}
		}
	}
	fmt.Println("SSH connections:", srv.Connections(), "commands run:", len(srv.Commands()))
	// Output:
	// shared: deploy true (never deployed), 2 files to send
	// api: deploy true (never deployed), 1 files to send
	// web: deploy true (never deployed), 2 files to send
	//   deploy-finish: plugin github.com/porter-deploy/porter/plugins/command: ["run: cd -- basic/web && echo \"web is live\" > STATUS"]
	// SSH connections: 1 commands run: 0
}

func ExampleModule_PushSignalHandler() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := remote.Dial(context.Background(), srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	m, err := porter.LoadModule(p, "shared", porter.OnHost("demo"), porter.WithConnection(conn),
		porter.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	// A handler runs a command on the host; its Describer says so in a plan.
	restart := func(m *porter.Module) string { return "echo restarting " + remote.Quote(m.Name()) }
	m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
		_, err := m.Host().Run(ctx, restart(m))
		return err
	}, porter.Describe(func(_ context.Context, m *porter.Module, _ any) ([]string, error) {
		return []string{porter.DescribeRun(restart(m))}, nil
	}))
	plan, err := m.DescribeSignal(context.Background(), porter.SigDeployFinish, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan[0].Lines[0], "| commands run:", len(srv.Commands()))
	if err := m.Signal(context.Background(), porter.SigDeployFinish, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.Commands())
	// Output:
	// run: echo restarting shared | commands run: 0
	// [echo restarting shared]
}

func ExampleStatus() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	p, err := porter.LoadProject("examples/basic/project")
	if err != nil {
		log.Fatal(err)
	}
	tg := porter.Target{Host: "demo", Address: srv.Address(), Dial: srv.DialOptions()}
	quiet := slog.New(slog.DiscardHandler)
	if _, err := porter.Deploy(context.Background(), p, porter.Options{Target: tg, Config: "testing", Logger: quiet}); err != nil {
		log.Fatal(err)
	}
	st, err := porter.Status(context.Background(), p, porter.StatusOptions{Target: tg, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range st.Hosts[0].Modules {
		fmt.Println(m.Module, m.State, m.Record.Config, m.Lock == nil)
	}
	// Output:
	// shared up to date testing true
	// api up to date testing true
	// web up to date testing true
}
