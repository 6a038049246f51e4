// Package porter is a library for writing deploy programs: a team's own Go
// program reads a project of modules from ini files, connects to a host over
// SSH once, and deploys every module in dependency order, firing signals
// that the module's own hook and its plugins handle.
//
// # A project on disk
//
//	myproject/
//	  project.ini            [project] name, depends = root modules
//	                         [hosts]   testing = deploy@testing.example.com
//	                         [modules] api = services/api   (when not ./api)
//	  root/
//	    root.ini             the module's ini, named like its directory
//	    config/production/   files for --config production
//	    config/testing/
//	    repo/                porter's working copy of a git source
//
// A module's ini:
//
//	[module]
//	path = /srv/app/root          ; where the source goes on the host
//	path-vbox = /vagrant/root     ; KEY-<host> overrides KEY on that host, in every section
//	depends = uwsgi,module1       ; deployed before this one
//	use_rsync = true              ; false: don't send the source
//	exclude = *.log, tmp/         ; never sent (.git* never is)
//	delete = false                ; true: remove files the source no longer has
//	config = settings.ini         ; files of config/<--config>/ copied into path
//	health = http://127.0.0.1:8000/healthz ; after deploy-finish; or tcp://HOST:PORT, or
//	                              ; health_command = CMD; with health_timeout, health_retries,
//	                              ; health_interval, health_status (see Health checks)
//
//	[scm]
//	url = git://git@example.com:app.git   ; git://, dir://path or none://
//
//	[release:stable]              ; --release stable (the default)
//	branch = release/0.1.2        ; git: branch, tag or commit; none: version
//
//	[plugin:github.com/porter-deploy/porter/plugins/crontab]
//	file = root                   ; a plugin is on when its section exists
//
// # A deploy
//
// [Deploy] (or the deploy command of [Main]) loads every module first, so a
// mistake in any ini stops it before anything connects; then it dials the
// host once (each host, for a group) and, for each module in the order of [Project.Order], sends
// [SigDeploy]. Its default handler is the procedure of the original tool:
//
//	SigDeployStart -> source checkout (package scm) -> SigSourcePreSend ->
//	SigSourceSend (default: package rsync to Module.Path) ->
//	SigSourcePostSend -> SigDeployFinish
//
// When a handler fails, the module's [SigDeployFailed] handlers run so that
// plugins can undo what they did, and the deploy stops.
//
// # Many hosts
//
// A [hosts] line may list hosts (production = web1, deploy@web2), and a
// [Target] names a host, a group or a comma list ([Project.Resolve]). A
// deploy to several hosts loads each host's own modules, checks each
// module's source out once for all of them, connects to every host, takes
// every module lock in one global order (all or nothing, so two deploys
// never interleave), then deploys the hosts [Target.Parallel] at once, or
// [Options.Batch] at a time, until [Options.MaxFailures] hosts failed
// ([Options.KeepGoing] runs them all). Every host gets the same release id;
// the [Report] has a [HostReport] per host, and [Report.Rerun] the hosts
// left behind.
//
// # Following a deploy
//
// [Options.Events] gets an [Event] at each moment of a deploy: hosts
// connected, modules and steps started and ended (with their figures),
// progress, outcomes. An [EventWriter] writes them as JSON lines
// ([Event.MarshalJSON], schema [EventSchema]), as deploy --json does;
// [StatusReport] and [ReleasesReport] have JSON forms too. docs/json.md
// in the repository describes every field and what the version promises.
//
// # Config files
//
// [module] config lists files of the module's config/<--config>/ directory,
// as plain relative paths (no "..", not absolute). A deploy checks that each
// exists before it connects; once the source is sent, the first handler of
// SigSourcePostSend (before the hook's and the plugins') copies each to the
// same relative name under the module's path, atomically (a temporary name,
// then a rename) and with the local file's mode, so a 0600 secret stays
// 0600. The source sync neither sends a file of the source under one of
// these names nor deletes one. Every file of the config directory counts in
// the record's settings hash, so changing one redeploys the module.
//
// # What a host runs
//
// Before it touches a module's path, a deploy gets the source and hashes the
// module's settings locally, then takes the module's lock on the host for
// the whole deploy of that host
// (<path>/.porter/<module>/lock.json, created exclusively, with a lease the
// deploy renews; a second deploy gets a [*ledger.LockedError] naming the
// holder, or takes the lock over with a warning when its holder is provably
// gone: a dead process of the same machine, or an expired lease). The host's
// [ledger.Record] (state.json there) says what it runs; a module whose
// record matches is skipped as [Unchanged] unless [Options.Force] names it.
// A successful deploy writes the record and a line of history.jsonl last; a
// failed one writes nothing, so the next run retries it. The lock is
// released in every case, Ctrl-C included, and never when another deploy
// holds it. Package ledger keeps this bookkeeping; [Status] compares records
// with what a deploy would ship, without changing anything, and [Unlock]
// removes a lock a person knows to be dead.
//
// # Releases and rollback
//
// With [module] strategy = releases a deploy builds <path>/releases/<id>/
// (seeded on the host from the current release), runs SigSourcePostSend
// there ([Module.Path] is the release being built), switches the link
// <path>/current to it atomically, then sends SigDeployFinish; on failure
// current is put back before SigDeployFailed. [Releases] lists a host's
// releases and [Rollback] switches current back, sending SigRollbackStart
// and SigRollbackFinish. keep_releases, shared and seed are the other
// [module] keys; the README has the details and the fault matrix.
//
// # Health checks
//
// [module] health = http://HOST:PORT/PATH (a GET porter makes through the
// SSH connection, to the address as the host sees it), tcp://HOST:PORT (a
// connection opens) or health_command = CMD (exit status 0, on the host,
// in the module's current path)
// runs after SigDeployFinish: health_retries tries (10) of health_timeout
// (5s) each, health_interval (1s) apart, for health_status (200, or a
// class such as 2xx). Until one passes the release is not good; when none
// does, the deploy fails with a [*HealthError] (what the last try got:
// the status and the first bytes of the body, or the exit status and
// output; also in [ModuleReport.Health]) and, with strategy = releases,
// porter switches current back to the release before, sending
// SigRollbackStart and SigRollbackFinish as [Rollback] does, then
// SigDeployFailed. [Module.DescribeHealth] says what the check does.
//
// # Signals, hooks and plugins
//
// Each module has its own handler lists: [Module.PushSignalHandler] appends,
// [Module.PopSignalHandler] removes the last, [Module.ReplaceSignalHandler]
// does both. A module's hook, registered with [RegisterDeployment], runs
// after the defaults and before the plugins; it is the Go form of the
// original's deployment.py. Plugins are packages that call [RegisterPlugin]
// in init with their import path as the name; a deploy program imports the
// ones its project uses:
//
//	import (
//		"github.com/porter-deploy/porter"
//		_ "github.com/acme/deploy/plugins/cdn"
//	)
//
//	func main() { porter.Main() }
//
// Every handler has an owner: porter's defaults are [OwnerPorter]'s, the
// hook's [OwnerHook]'s, a plugin's its registered name, and a handler that
// a running handler pushes is that handler's owner's
// ([Module.SignalHandlerInfo] lists them). A failing handler's
// [SignalError] names its owner ("deploy app to web1: deploy-finish:
// plugin github.com/acme/deploy/plugins/cdn: purge failed"), and so does
// the debug log of each handler run. A handler that leaves a step out
// calls [Module.Skip] with the step and why; the report keeps it
// ([ModuleReport.Skipped]) and the CLI prints it.
//
// # The plugin contract
//
// A plugin owns its name: [Module.PluginSettings] is its own [plugin:NAME]
// section, in its RegisterSignalHandlers as in its handlers. A plugin that
// is a [SettingsValidator] has that section checked by [LoadProject] for
// every module and every host's overrides, without a config or a
// connection. Handlers and Describers always have [Module.Host]: on a
// module loaded without [WithConnection], [Module.Signal] runs none and
// fails with [ErrNotConnected]. Payloads are values of the named type each
// signal's doc gives ([DeployFailed], [RollbackInfo]). Package scp has the
// file helpers plugins need on the host (atomic writes with a mode,
// snapshots restored on failure). See [Plugin].
package porter
