// Package remote is one SSH connection to one host: Dial, Run, SFTP, Quote.
//
// A deploy opens one [Host] per machine with [Dial] and shares it between
// every step: [Host.Run] and [Host.RunInput] run commands, [Host.SFTP]
// hands out the host's one SFTP client, and package rsync runs its
// programs on the same remote shells as Run.
//
// # The remote shell
//
// Everything porter runs on a host runs in a [Shell]: a /bin/sh reached
// through one SSH session whose exec request carries only [Bootstrap],
//
//	exec /bin/sh -c 'read n && eval "$(head -c $n)"'
//
// a constant that means the same to every login shell (sh, dash, bash,
// zsh, fish, csh/tcsh, BusyBox ash): the login shell only replaces itself
// by /bin/sh, which reads its program from the channel. No value ever
// passes through the login shell, so its own quoting (zsh's leading "=",
// fish's and csh's quotes) never applies: every value reaches /bin/sh,
// quoted by [Quote]. A command or value with a NUL byte is refused with
// [ErrNUL] before anything is sent.
//
// On the channel, the shell reads frames "<len>\n" <len bytes> "go\n"; the
// first is its loop, which makes a private temporary directory (mktemp
// -d, removed when it exits), greets with "porter-shell 2 <dir>\n" (what
// the login shell's rc files printed before is skipped) and evals each
// next frame; a frame cut short is never run. A program writes its own
// reply: Run's is "<status> <stdout len> <stderr len> [<signal>]\n" then
// the command's output, spooled in the temporary directory. Shells are
// pooled per Host (up to 4, started when callers overlap, closed by
// [Host.Close]); see [Host.Shell], [Host.IdleShell], [Host.PrewarmShell].
//
// Environment: a command sees what the login shell gave the bootstrap:
// what sshd set (USER, LOGNAME, HOME, SHELL, sshd's default PATH,
// SSH_CONNECTION, ~/.ssh/environment where sshd permits it) and what the
// login shell reads for a command (bash: ~/.bashrc, which sshd makes it
// read; zsh: ~/.zshenv; fish: config.fish; csh/tcsh: ~/.cshrc or
// ~/.tcshrc; dash and ash: nothing). It is not a login shell: ~/.profile,
// ~/.bash_profile, ~/.zprofile and ~/.login are not read; a team that
// needs them writes `. "$HOME/.profile" && CMD`. Each command starts in
// the login directory with stdin empty, in a new /bin/sh: a cd or an
// export does not carry over.
//
// Bounds (a host may be broken or hostile): a reply line 64 KiB; a
// command's stdout and stderr [WithMaxOutput] each (64 MiB); login-shell
// output before the greeting [MaxPreamble] (1 MiB); a shell's own stderr,
// its last 16 KiB kept; a shell's start [WithTimeout] (30 s) and the
// caller's context; an SFTP call the caller's context plus [SFTPGrace]
// when the SFTP server stops answering. Beyond a bound the shell is
// killed and the error names the host and the step; [ErrShellBroken]
// marks a shell that broke. Text that comes from the host is shown
// through [Printable].
//
// Dial behaves like OpenSSH's ssh(1) where it matters for a deploy:
//
//   - the address may be "user@host:port", "host" or a Host alias of
//     ~/.ssh/config (or of the file of [WithSSHConfig]), whose HostName,
//     User, Port, IdentityFile, ProxyJump, HostKeyAlias, UserKnownHostsFile,
//     GlobalKnownHostsFile and StrictHostKeyChecking are honoured. Where an
//     ssh binary is installed they are what `ssh -G -F FILE HOST` prints,
//     OpenSSH's own reading of the file (Match, Include, tokens,
//     canonicalization); else porter's parser reads the file (Host blocks,
//     Include, Match host and Match all). /etc/ssh/ssh_config is not read;
//   - keys come from ssh-agent, then from [WithSigners], then from identity
//     files (those given, those of ssh_config, else ~/.ssh/id_ed25519,
//     id_ecdsa and id_rsa);
//   - the host key is checked against the user's known_hosts
//     (UserKnownHostsFile, default ~/.ssh/known_hosts) and the global ones
//     (GlobalKnownHostsFile, default /etc/ssh/ssh_known_hosts and
//     ssh_known_hosts2), under the HostKeyAlias when there is one (the alias
//     as it is, without [alias]:port, as OpenSSH stores it): an unknown or
//     changed key stops the dial with a [*HostKeyError] that prints the
//     fingerprint and the fix. Trust on first use is opt-in
//     ([WithAcceptNewHostKeys], or StrictHostKeyChecking accept-new) and
//     refuses a key that differs from a known one, user or global.
//     StrictHostKeyChecking yes and ask refuse an unknown key (porter never
//     prompts); no and off are not honoured: the key is checked as with
//     yes, and the error says so;
//   - keepalives detect a dead connection.
//
// Every value put into a command goes through [Quote].
package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Option configures Dial (functional options, as pkg/sftp's ClientOption).
type Option func(*config)

type config struct {
	knownHosts      []string
	knownHostsSet   bool
	globalKnown     []string
	globalKnownSet  bool
	acceptNew       bool
	identityFiles   []string
	signers         []ssh.Signer
	useAgent        bool
	sshConfigFile   string
	sshConfigSet    bool
	keepAlive       time.Duration
	logger          *slog.Logger
	hostKeyCallback ssh.HostKeyCallback
	timeout         time.Duration
	noSharedShell   bool
	announce        bool
	maxOutput       int64
	sshBinary       string        // tests: the ssh run for ssh -G ("" = none)
	sshBinarySet    bool          // tests: sshBinary replaces the one on $PATH
	sshGTimeout     time.Duration // tests: bounds ssh -G (0 = sshGTimeout)
}

func newConfig(opts []Option) *config {
	c := &config{
		useAgent:  true,
		keepAlive: 15 * time.Second,
		timeout:   30 * time.Second,
		maxOutput: DefaultMaxOutput,
	}
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// WithKnownHosts sets the known_hosts files, in place of ssh_config's
// UserKnownHostsFile (default ~/.ssh/known_hosts). They are then the only
// files read: neither ssh_config's GlobalKnownHostsFile nor the default
// global files apply, unless [WithGlobalKnownHosts] names some. Files that
// do not exist count as empty; with [WithAcceptNewHostKeys] the first one is
// created.
func WithKnownHosts(files ...string) Option {
	return func(c *config) { c.knownHosts = files; c.knownHostsSet = true }
}

// WithGlobalKnownHosts sets the global known_hosts files, in place of
// ssh_config's GlobalKnownHostsFile (default /etc/ssh/ssh_known_hosts and
// /etc/ssh/ssh_known_hosts2); none = no global file. A host whose key is in
// one is known; they are read, never written: trust on first use refuses a
// key that differs from theirs. Files that do not exist count as empty.
func WithGlobalKnownHosts(files ...string) Option {
	return func(c *config) { c.globalKnown = files; c.globalKnownSet = true }
}

// WithAcceptNewHostKeys turns on trust-on-first-use: the key of a host that
// no known_hosts file (user or global) knows is appended to the first user
// known_hosts file. A key that differs from a known one is still refused. It
// wins over ssh_config's StrictHostKeyChecking.
func WithAcceptNewHostKeys() Option { return func(c *config) { c.acceptNew = true } }

// WithIdentityFiles adds private key files tried after the agent and the
// signers of [WithSigners]. A file that is missing, encrypted or unparsable is
// skipped with a debug log.
func WithIdentityFiles(files ...string) Option {
	return func(c *config) { c.identityFiles = append(c.identityFiles, files...) }
}

// WithSigners adds in-memory keys, tried after the agent's.
func WithSigners(s ...ssh.Signer) Option {
	return func(c *config) { c.signers = append(c.signers, s...) }
}

// WithoutAgent skips ssh-agent even when SSH_AUTH_SOCK is set.
func WithoutAgent() Option { return func(c *config) { c.useAgent = false } }

// WithSSHConfig reads this ssh_config file instead of ~/.ssh/config ("" = none:
// no file is read, and ssh -G is not run).
func WithSSHConfig(path string) Option {
	return func(c *config) { c.sshConfigFile = path; c.sshConfigSet = true }
}

// WithKeepAlive sets the keepalive interval (default 15s; 0 disables). After
// three keepalives in a row go unanswered the connection is closed.
func WithKeepAlive(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTimeout bounds the TCP connect plus the SSH handshake of each hop
// (default 30s; 0 = only the context bounds it).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithoutSharedShell makes every [Host.Run] start a shell of its own and
// end it after the command, instead of taking one from the Host's pool (up
// to 4 shells, each holding a session until Close). Each Run then pays the
// login shell's start-up (100-300 ms with a ~/.bashrc that runs pyenv, nvm
// or conda init) and a session; the command runs the same way (see
// [Host.Run]).
func WithoutSharedShell() Option { return func(c *config) { c.noSharedShell = true } }

// WithMaxOutput bounds what one command may print, on stdout and on stderr
// each (default [DefaultMaxOutput], 64 MiB): beyond it the command's Run
// fails with an error that names the host, the command and the bound, and
// the shell it ran in is ended. n <= 0 keeps the default.
func WithMaxOutput(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxOutput = n
		}
	}
}

// WithCommandAnnouncements makes the Host name each command of [Host.Run]
// and [Host.RunInput] to the server, in a "porter-command@porter-deploy.github.io"
// channel request (want-reply false) before it runs, and each shell's start
// in a "porter-shell@porter-deploy.github.io" request. It exists for test
// servers that list what a deploy ran (portertest asks for it in its
// DialOptions); OpenSSH ignores such requests.
func WithCommandAnnouncements() Option { return func(c *config) { c.announce = true } }

// WithHostKeyCallback replaces the known_hosts check by cb, for callers that
// keep host keys elsewhere. [WithKnownHosts], [WithGlobalKnownHosts],
// [WithAcceptNewHostKeys] and ssh_config's host key settings are then
// ignored.
func WithHostKeyCallback(cb ssh.HostKeyCallback) Option {
	return func(c *config) { c.hostKeyCallback = cb }
}

// Host is one SSH connection to one host, shared by every step of a deploy.
// It is safe for concurrent use.
type Host struct {
	name   string
	addr   string // host:port actually connected to
	client *ssh.Client
	jumps  []*ssh.Client // ProxyJump hops, closed after client
	closer []io.Closer   // e.g. the agent connection
	log    *slog.Logger

	sftpMu    sync.Mutex
	sftp      *sftp.Client
	sftpWatch map[context.Context]bool // contexts whose end probes sftp

	sftpKillMu sync.Mutex
	sftpKill   map[*sftp.Client]func()   // breaks a client's replies (see openSFTP)
	sftpRaw    map[*sftp.Client]*rawSFTP // the requests of ListDir on a client's session

	shells       *shellPool // nil with WithoutSharedShell
	announce     bool
	maxOutput    int64
	startTimeout time.Duration // bounds a shell's start (WithTimeout)

	valuesMu     sync.Mutex
	values       map[any]any // see Value
	valuesClosed bool

	stopKeepAlive chan struct{}
	keepAliveDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Name returns the address as given to Dial.
func (h *Host) Name() string { return h.name }

// Addr returns the "host:port" that Dial connected to, after ssh_config
// resolution.
func (h *Host) Addr() string { return h.addr }

// Client returns the underlying ssh client: the extension point for
// channels porter does not open itself (a port forward, another
// subsystem). Do not run commands on a session of it: an exec request
// hands its command to the user's login shell, which is what [Shell]
// exists to avoid; use [Host.Run], [Host.RunInput] or [Host.Shell].
func (h *Host) Client() *ssh.Client { return h.client }

// Close stops the shared shells, closes the values (see Value), the SFTP
// client and the connection, and stops the keepalives. Idempotent.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		if h.stopKeepAlive != nil {
			close(h.stopKeepAlive)
		}
		if h.shells != nil {
			h.shells.close()
		}
		h.closeValues()
		var errs []error
		h.sftpMu.Lock()
		if h.sftp != nil {
			errs = append(errs, h.sftp.Close())
			h.sftp = nil
		}
		h.sftpMu.Unlock()
		errs = append(errs, h.client.Close())
		if h.shells != nil {
			// A shell still starting fails now: nothing of the Host's
			// runs (or logs) after Close.
			h.shells.starts.Wait()
		}
		for i := len(h.jumps) - 1; i >= 0; i-- {
			errs = append(errs, h.jumps[i].Close())
		}
		for _, c := range h.closer {
			errs = append(errs, c.Close())
		}
		if h.keepAliveDone != nil {
			<-h.keepAliveDone
		}
		var keep []error
		for _, err := range errs {
			if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				keep = append(keep, err)
			}
		}
		h.closeErr = errors.Join(keep...)
	})
	return h.closeErr
}
