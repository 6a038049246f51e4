package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/remote"
)

// remoteTree is what dst holds on the host.
type remoteTree struct {
	exists    bool             // dst exists (as a directory)
	entries   map[string]entry // by path, excluded entries left out; "" is dst itself
	protected map[string]bool  // directories that hold excluded entries: never removed whole
	stale     []string         // staging directories left by an earlier, killed sync
}

// hostCaps is what the host's shell offers.
type hostCaps struct {
	tar       bool // GNU tar or bsdtar
	gzip      bool
	sha256sum bool // with -z
}

// pendingAgent is the agent being started: a remote shell costs what the
// host's login scripts cost (100 ms and more with rbenv, pyenv or nvm in
// .bashrc), so it starts at once and is waited for only when needed.
type pendingAgent struct {
	done   chan struct{}
	cancel context.CancelFunc
	ag     *agent
	caps   hostCaps
	raw    []entry
	exists bool
	findOK bool
	listed bool // the find ran (else the shell was only probed: raw and exists say nothing)
	err    error
}

// startPending starts the agent for dst. list, asked once the shell is up
// (nil: no), says whether it lists dst with find or only probes the
// host's tools: a listing that was won already by the SFTP walk is not
// worth waiting for.
func startPending(ctx context.Context, h *remote.Host, dst string, list func() bool, maxEntries int) *pendingAgent {
	actx, cancel := context.WithCancel(ctx)
	p := &pendingAgent{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		what := fmt.Sprintf("list %s on %s", dst, h.Name())
		defer func() {
			if r := recover(); r != nil { // host data must never crash the deployer
				p.ag, p.err = nil, fmt.Errorf("%s: %w: internal error on host data: %v", what, remote.ErrShellBroken, r)
			}
		}()
		ag, listed, err := startAgent(actx, h, dst, list)
		p.listed = listed
		if err != nil {
			p.err = fmt.Errorf("%s: %w", what, err)
			if actx.Err() != nil {
				p.err = actx.Err()
			}
			return
		}
		p.caps, p.raw, p.exists, p.findOK, err = ag.readListing(what, maxEntries)
		if err == nil && actx.Err() != nil {
			err = actx.Err() // abandoned while listing
		}
		if err != nil {
			ag.abort()
			p.err = err
			if actx.Err() != nil {
				p.err = actx.Err()
			}
			return
		}
		p.ag = ag
		rememberCaps(h, p.caps) // a probe's header is the listing's
	}()
	return p
}

// ready reports whether the agent is up (or has failed).
func (p *pendingAgent) ready() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the agent once it has listed dst.
func (p *pendingAgent) wait(ctx context.Context) (*agent, error) {
	select {
	case <-p.done:
		return p.ag, p.err
	case <-ctx.Done():
		p.abandon()
		return nil, ctx.Err()
	}
}

// abandon gives the agent up without waiting for it: one that has listed
// goes back to the host's pool, one still starting or listing is killed.
func (p *pendingAgent) abandon() {
	select {
	case <-p.done:
		if p.ag != nil {
			p.ag.release()
			p.ag = nil
		}
	default:
		p.cancel() // the shell is killed by its watch
	}
}

// agentDelay is how long an SFTP walk may run before the agent is started
// to race it.
const agentDelay = 250 * time.Millisecond

// farRTT is the round trip beyond which the agent starts at once: one find
// costs less than a walk of a round trip or more per directory level.
const farRTT = 5 * time.Millisecond

// listRemote lists dst with an SFTP walk; on a far host (the faster of
// the walk's first two requests slower than farRTT) or a big tree (the
// walk slower than agentDelay), the agent starts and its one `find -printf` races the walk:
// the first complete listing wins. It starts at once when a pooled shell
// is idle or starting (it costs no login shell), or when the sync copies
// from Basis and the host's SFTP server cannot (the copies then need the
// shell). A near host's login shell (100 ms and
// more with rbenv, pyenv or nvm in .bashrc) is then only started by Apply,
// when a shell is worth it. The agent returned may be nil (not started).
func listRemote(ctx context.Context, h *remote.Host, dst string, m *matcher, opts *Options) (*remoteTree, *pendingAgent, error) {
	forceSFTP := opts.hooks != nil && opts.hooks.listSFTP
	forceFind := opts.hooks != nil && opts.hooks.listFind
	slowWalk := opts.hooks != nil && opts.hooks.slowWalk
	walkFirst := opts.hooks != nil && opts.hooks.walkFirst
	listStart := time.Now()
	var pa *pendingAgent
	var walkWon atomic.Bool // the walk listed dst: an agent started later only probes
	walkEnded := make(chan struct{})
	var once sync.Once
	started := make(chan struct{})
	log := opts.logger()
	startFor := func(why string) func() {
		return func() {
			once.Do(func() {
				log.Debug("sync listing: a find in the remote shell races the SFTP walk", "dst", dst, "why", why)
				pa = startPending(ctx, h, dst, func() bool {
					if walkFirst {
						<-walkEnded
					}
					if walkWon.Load() {
						log.Debug("sync listing: the SFTP walk had won when the shell came up: no find", "dst", dst)
						return false
					}
					return true
				}, opts.maxEntries())
				close(started)
			})
		}
	}
	start := startFor("needed")
	switch {
	case forceFind || slowWalk:
		start()
	case forceSFTP:
	case opts.Basis != "" && !opts.SFTPOnly && !canCopyFiles(ctx, h):
		startFor("copies from Basis need the shell")()
	case h.ShellWarm():
		startFor("a shell is up")()
	}
	auto := startFor("slow walk") // the agent starts by itself on a far host or a big tree
	if forceSFTP {
		auto = func() {} // tests: only when the listing needs it
	}
	far := startFor("far host")
	if forceSFTP {
		far = auto
	}
	timer := time.AfterFunc(agentDelay, auto)
	type walked struct {
		raw    []entry
		exists bool
		err    error
	}
	wctx, cancelWalk := context.WithCancel(ctx)
	walkc := make(chan walked, 1)
	go func() {
		if forceFind || slowWalk {
			close(walkEnded)
		}
		if forceFind {
			walkc <- walked{err: errors.New("test: no SFTP listing")}
			return
		}
		if slowWalk {
			<-wctx.Done() // the agent wins the race
			walkc <- walked{err: wctx.Err()}
			return
		}
		raw, exists, err := walkSFTP(wctx, h, dst, 16*opts.concurrency(), opts.maxEntries(), func(rtt time.Duration) {
			if rtt > farRTT {
				far()
			}
		})
		walkWon.Store(err == nil)
		close(walkEnded)
		if walkFirst { // and the agent ends first: its probe must not be taken for a listing
			<-started
			<-pa.done
		}
		walkc <- walked{raw, exists, err}
	}()
	stopWalk := func() {
		cancelWalk()
		if walkc != nil {
			<-walkc
		}
	}
	agentNow := func() *pendingAgent { // the agent, started if need be
		start()
		<-started
		return pa
	}
	finish := func() *pendingAgent { // the agent if started (nil if not), never started later
		timer.Stop()
		once.Do(func() {})
		return pa
	}
	fail := func(err error) (*remoteTree, *pendingAgent, error) {
		cancelWalk()
		if p := finish(); p != nil {
			p.abandon()
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	var raw []entry
	var exists bool
	var agentDone <-chan struct{} // set once started
	startedc := started
	for {
		select {
		case <-startedc:
			startedc = nil
			agentDone = pa.done
			continue
		case <-agentDone:
			agentDone = nil
			switch {
			case pa.err != nil && !slowWalk:
				// A shell that cannot start (an SFTP-only account, a
				// login shell that fails) raced the walk: the walk
				// decides, and Apply does without a shell if it can.
				log.Debug("sync listing: the remote shell did not start; the SFTP walk goes on", "dst", dst, "err", pa.err)
				continue
			case pa.err != nil:
				stopWalk()
				return fail(pa.err)
			case pa.listed && pa.findOK && !forceSFTP:
				stopWalk()
				raw, exists = pa.raw, pa.exists
				log.Debug("sync listing: the find won", "dst", dst, "took", time.Since(listStart))
			default:
				continue // find without -printf (busybox): the walk decides
			}
		case w := <-walkc:
			cancelWalk()
			walkc = nil
			if w.err == nil {
				raw, exists = w.raw, w.exists
				log.Debug("sync listing: the SFTP walk won", "dst", dst, "took", time.Since(listStart))
				break
			}
			// No SFTP listing (a server without SFTP, a permission): the
			// agent's find decides.
			p := agentNow()
			if _, err := p.wait(ctx); err != nil {
				return fail(err)
			}
			if !p.listed || !p.findOK {
				return fail(w.err)
			}
			raw, exists = p.raw, p.exists
		}
		break
	}
	t := buildRemoteTree(raw, m)
	t.exists = exists
	return t, finish(), nil
}

// parseRecord parses the fields of one findFormat record.
func parseRecord(f [6][]byte) (entry, error) {
	e := entry{path: string(f[5])}
	if err := checkListedPath(e.path); err != nil {
		return e, err
	}
	if len(f[4]) > 0 {
		e.link = string(f[4])
	}
	switch string(f[0]) {
	case "f":
		e.typ = typeFile
	case "d":
		e.typ = typeDir
	case "l":
		e.typ = typeSymlink
	default:
		e.typ = typeOther
	}
	mode, err := strconv.ParseUint(string(f[1]), 8, 32)
	if err != nil {
		return e, fmt.Errorf("bad mode %q for %q", f[1], f[5])
	}
	e.mode = uint32(mode) & 0o7777
	if e.typ == typeFile {
		if e.size, err = strconv.ParseInt(string(f[2]), 10, 64); err != nil || e.size < 0 {
			return e, fmt.Errorf("bad size %q for %q", f[2], f[5])
		}
	}
	sec, _, _ := strings.Cut(string(f[3]), ".")
	if e.mtime, err = strconv.ParseInt(sec, 10, 64); err != nil {
		return e, fmt.Errorf("bad mtime %q for %q", f[3], f[5])
	}
	return e, nil
}

// walkSFTP lists dst with SFTP: one directory level at a time, the
// directories of a level read concurrently.
func walkSFTP(ctx context.Context, h *remote.Host, dst string, conc, maxEntries int, firstRTT func(time.Duration)) ([]entry, bool, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list %s on %s: open sftp: %w", dst, h.Name(), err)
	}
	t0 := time.Now()
	fi, err := c.Stat(dst)
	if firstRTT != nil {
		rtt := time.Since(t0)
		again := func() time.Duration {
			t := time.Now()
			_, _ = c.Stat(dst) // an answer, whatever it says
			return time.Since(t)
		}
		if rtt <= farRTT {
			firstRTT(rtt)
		} else {
			// Asked again alongside the walk: a far host's walk does not
			// wait one more round trip for it.
			go func() { firstRTT(confirmRTT(rtt, again)) }()
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list %s on %s: %w", dst, h.Name(), err)
	}
	if !fi.IsDir() {
		return nil, false, fmt.Errorf("list %s on %s: it exists and is not a directory: remove it or choose another destination", dst, h.Name())
	}
	out := []entry{sftpEntry("", fi)}
	var mu sync.Mutex
	level := []string{""}
	for len(level) > 0 {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(conc)
		for _, dir := range level {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				full := joinRemote(dst, dir)
				infos, err := h.ListDir(gctx, full, maxEntries)
				if err != nil {
					return fmt.Errorf("list %s on %s: %w", full, h.Name(), err)
				}
				var es []entry
				var subs []string
				for _, fi := range infos {
					if err := checkListedName(fi.Name()); err != nil {
						return fmt.Errorf("list %s on %s: %w", full, h.Name(), err)
					}
					rel := path.Join(dir, fi.Name())
					if rel == stateDir {
						continue
					}
					e := sftpEntry(rel, fi)
					if e.typ == typeSymlink {
						if e.link, err = c.ReadLink(joinRemote(dst, rel)); err != nil {
							return fmt.Errorf("read link %s on %s: %w", joinRemote(dst, rel), h.Name(), err)
						}
					}
					if e.typ == typeDir && !reserved(rel) {
						subs = append(subs, rel)
					}
					es = append(es, e)
				}
				mu.Lock()
				defer mu.Unlock()
				out = append(out, es...)
				next = append(next, subs...)
				if len(out) > maxEntries {
					return fmt.Errorf("list %s on %s: more than %d entries (rsync.Options.MaxEntries)", dst, h.Name(), maxEntries)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, false, err
		}
		level = next
	}
	return out, true, nil
}

// confirmRTT is the round trip of a host whose first request took rtt:
// one slower than farRTT may be a busy CPU (here or on the host) rather
// than a far host, so the faster of it and one more request (again)
// decides.
func confirmRTT(rtt time.Duration, again func() time.Duration) time.Duration {
	if rtt <= farRTT {
		return rtt
	}
	return min(rtt, again())
}

func sftpEntry(rel string, fi os.FileInfo) entry {
	e := entryFromInfo(rel, fi)
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		e.mode = st.Mode & 0o7777
		e.mtime = int64(st.Mtime)
	}
	return e
}

// joinRemote joins dst and a relative path for the host (SFTP paths).
func joinRemote(dst, rel string) string {
	if rel == "" {
		return dst
	}
	if strings.HasSuffix(dst, "/") {
		return dst + rel
	}
	return dst + "/" + rel
}

// buildRemoteTree sorts raw entries, drops the excluded ones (and what
// excluded directories hold) and marks the directories that hold them.
func buildRemoteTree(raw []entry, m *matcher) *remoteTree {
	sort.Slice(raw, func(i, j int) bool { return raw[i].path < raw[j].path })
	t := &remoteTree{
		entries:   make(map[string]entry, len(raw)),
		protected: map[string]bool{},
	}
	gone := map[string]bool{} // excluded directories
	for _, e := range raw {
		if e.path == "" {
			t.entries[""] = e
			continue
		}
		if strings.HasPrefix(e.path, stagePrefix) && !strings.Contains(e.path, "/") {
			t.stale = append(t.stale, e.path)
			continue
		}
		dir := parentDir(e.path)
		if gone[dir] {
			if e.typ == typeDir {
				gone[e.path] = true
			}
			continue
		}
		if m.excluded(e.path, e.typ == typeDir) {
			if e.typ == typeDir {
				gone[e.path] = true
			}
			for d := dir; !t.protected[d]; d = parentDir(d) {
				t.protected[d] = true
				if d == "" {
					break
				}
			}
			continue
		}
		t.entries[e.path] = e
	}
	return t
}

// parentDir returns the parent of a relative path ("" for a top entry).
func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// checkListedPath refuses a path of a remote listing that is not a clean
// relative path below dst: a host that lists "../x", "/etc" or "a//b"
// would otherwise have the sync act outside dst.
func checkListedPath(p string) error {
	if p == "" {
		return nil // dst itself
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("the host listed %s: an absolute path: refused", remote.Printable(fmt.Sprintf("%q", p)))
	}
	for _, part := range strings.Split(p, "/") {
		if err := checkListedName(part); err != nil {
			return fmt.Errorf("the host listed %s: %w", remote.Printable(fmt.Sprintf("%q", p)), err)
		}
	}
	return nil
}

// checkListedName refuses a directory entry's name that is not one plain
// name.
func checkListedName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("a name %q in a listing: refused", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("a name %s with a slash or a NUL in a listing: refused", remote.Printable(fmt.Sprintf("%q", name)))
	}
	return nil
}
