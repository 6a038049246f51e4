package porter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// relSeen records, per deploy path, what the rel-app hook saw: m.Path()
// and m.CurrentPath() during SigSourcePostSend.
var relSeen sync.Map // base path -> []string

func init() {
	porter.RegisterDeployment("rel-app", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			v, _ := relSeen.LoadOrStore(m.Base(), &[]string{})
			*(v.(*[]string)) = append(*(v.(*[]string)), m.Path()+" "+m.CurrentPath())
			// A handler that appends to a file of the new release and
			// deletes a file there: the older releases keep theirs.
			if _, err := m.Host().Run(ctx, "cd "+m.Path()+" && echo appended >> log.txt && rm -f cache.pyc"); err != nil {
				return err
			}
			if m.Flag("fail-at") == "post-send" {
				return errors.New("post-send fails")
			}
			return nil
		})
		for _, sig := range []porter.Signal{porter.SigRollbackStart, porter.SigRollbackFinish} {
			m.PushSignalHandler(sig, func(ctx context.Context, m *porter.Module, payload any) error {
				info := payload.(porter.RollbackInfo)
				v, _ := relSeen.LoadOrStore(m.Base(), &[]string{})
				*(v.(*[]string)) = append(*(v.(*[]string)), string(sig)+" "+info.From.ID+" -> "+info.To.ID+" in "+m.Path())
				return nil
			})
		}
		m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
			if m.Flag("fail-at") == "finish" {
				return errors.New("finish fails")
			}
			return nil
		})
		return nil
	})
	porter.RegisterPlugin("rel-flags", func() porter.Plugin { return relFlags{} })
}

// relFlags declares the rel-app module's fail-at flag.
type relFlags struct{}

func (relFlags) RegisterSignalHandlers(*porter.Module) error { return nil }
func (relFlags) Flags() []porter.Flag {
	return []porter.Flag{{Name: "fail-at", Usage: "where the test hook fails"}}
}

func releasesProject(extra string) map[string]string {
	return map[string]string{
		"project.ini":           "[project]\ndepends = rel-app\n[hosts]\ntest = x@y\n",
		"rel-app/rel-app.ini":   "[module]\npath = $REMOTE/app\nstrategy = releases\nkeep_releases = 2\nshared = media, .env, logs/\n" + extra + "[scm]\nurl = dir://src\n[plugin:rel-flags]\n",
		"rel-app/src/app.py":    "v1\n",
		"rel-app/src/log.txt":   "shipped\n",
		"rel-app/src/cache.pyc": "pyc\n",
		"rel-app/src/gone.txt":  "only in v1\n",
	}
}

func currentRelease(t *testing.T, base string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(base, "current"))
	require.NoError(t, err)
	id, ok := strings.CutPrefix(target, "releases/")
	require.True(t, ok, target)
	return id
}

// releaseDirs lists the release directories by name: deploys in the same
// second sort by version, not by age (compare with ElementsMatch).
func releaseDirs(t *testing.T, base string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(base, "releases"))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func TestReleasesDeploy(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	base := filepath.Join(f.remote, "app")
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)

	id1 := currentRelease(t, base)
	r1 := filepath.Join(base, "releases", id1)
	assert.Equal(t, []string{id1}, releaseDirs(t, base))
	assert.Equal(t, "v1\n", read(t, filepath.Join(r1, "app.py")))
	assert.Equal(t, "shipped\nappended\n", read(t, filepath.Join(r1, "log.txt")))
	assert.NoFileExists(t, filepath.Join(r1, "cache.pyc"))
	v, _ := relSeen.Load(base)
	assert.Equal(t, []string{r1 + " " + filepath.Join(base, "current")}, *(v.(*[]string)), "m.Path() is the release being built")

	// Shared names: links to shared/, made on first use.
	for name, dir := range map[string]bool{"media": true, ".env": false, "logs": true} {
		link, err := os.Readlink(filepath.Join(r1, name))
		require.NoError(t, err, name)
		assert.Equal(t, "../../shared/"+name, link)
		st, err := os.Stat(filepath.Join(base, "shared", name))
		require.NoError(t, err)
		assert.Equal(t, dir, st.IsDir(), name)
		if !dir {
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a shared file is private until the team fills it")
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(base, "shared", "media", "upload.jpg"), []byte("jpg"), 0o644))

	rec := readRecord(t, base, "rel-app")
	assert.Equal(t, id1, rec.ReleaseID)

	// Second deploy: a change, a removal. Only the new release changes.
	portertest := filepath.Join(f.local, "rel-app", "src")
	require.NoError(t, os.WriteFile(filepath.Join(portertest, "app.py"), []byte("v2\n"), 0o644))
	hourAgo := time.Now().Add(-time.Hour) // not changed within the second a deploy read it
	require.NoError(t, os.Chtimes(filepath.Join(portertest, "app.py"), hourAgo, hourAgo))
	require.NoError(t, os.Remove(filepath.Join(portertest, "gone.txt")))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id2 := currentRelease(t, base)
	require.NotEqual(t, id1, id2)
	r2 := filepath.Join(base, "releases", id2)
	assert.Equal(t, "v2\n", read(t, filepath.Join(r2, "app.py")))
	assert.NoFileExists(t, filepath.Join(r2, "gone.txt"), "a release is exactly the source")
	assert.Equal(t, "shipped\nappended\n", read(t, filepath.Join(r2, "log.txt")))
	assert.Equal(t, "jpg", read(t, filepath.Join(r2, "media", "upload.jpg")), "shared survives releases")
	assert.Equal(t, "v1\n", read(t, filepath.Join(r1, "app.py")), "the older release is untouched")
	assert.Equal(t, "shipped\nappended\n", read(t, filepath.Join(r1, "log.txt")), "no hard link shares a file between releases")
	assert.FileExists(t, filepath.Join(r1, "gone.txt"))

	var rels []ledger.Release
	require.NoError(t, json.Unmarshal([]byte(read(t, filepath.Join(base, ".porter", "rel-app", "releases.json"))), &rels))
	require.Len(t, rels, 2)
	assert.Equal(t, []string{id1, id2}, []string{rels[0].ID, rels[1].ID})
	for _, r := range rels {
		assert.Equal(t, ledger.Good, r.State)
	}

	// Third: with keep_releases = 2 the oldest release would go once the
	// new one is good: it is recycled instead (renamed, nothing copied),
	// and what changed since comes from the current release on the host:
	// only the new file travels.
	before, err := os.Stat(r1)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(portertest, "third.txt"), []byte("3\n"), 0o644))
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id3 := currentRelease(t, base)
	r3 := filepath.Join(base, "releases", id3)
	assert.ElementsMatch(t, []string{id2, id3}, releaseDirs(t, base))
	after, err := os.Stat(r3)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "release %s is %s renamed", id3, id1)
	st := rep.Hosts[0].Modules[0].Sync
	assert.Equal(t, 1, st.Copied, "app.py, from the current release: %s", st)
	assert.Equal(t, int64(len("3\n")+len("shipped\n")+len("pyc\n")), st.BytesSent,
		"third.txt, and log.txt and cache.pyc that a handler appends to and removes: %s", st)
	assert.Equal(t, "v2\n", read(t, filepath.Join(r3, "app.py")))
	assert.Equal(t, "3\n", read(t, filepath.Join(r3, "third.txt")))
	assert.NoFileExists(t, filepath.Join(r3, "gone.txt"), "a recycled release is exactly the source")
	assert.Equal(t, "shipped\nappended\n", read(t, filepath.Join(r3, "log.txt")))
	assert.Equal(t, "jpg", read(t, filepath.Join(r3, "media", "upload.jpg")))
	assert.Equal(t, "v2\n", read(t, filepath.Join(r2, "app.py")), "the current release was only read")
	assert.Equal(t, "shipped\nappended\n", read(t, filepath.Join(r2, "log.txt")))
	assert.NoFileExists(t, filepath.Join(r2, "third.txt"))
	assert.Empty(t, findTemps(t, base))
}

// findTemps lists porter's temporary names left under root.
func findTemps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err == nil && (strings.Contains(de.Name(), "porter-tmp") || strings.Contains(de.Name(), "porter-current")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestReleasesFailureLeavesCurrentAsItWas(t *testing.T) {
	for _, at := range []string{"post-send", "finish"} {
		t.Run(at, func(t *testing.T) {
			f := newFixture(t, releasesProject(""))
			base := filepath.Join(f.remote, "app")
			_, err := f.deploy(t, porter.Options{})
			require.NoError(t, err)
			id1 := currentRelease(t, base)
			before := readRecord(t, base, "rel-app")

			require.NoError(t, os.WriteFile(filepath.Join(f.local, "rel-app", "src", "app.py"), []byte("v2\n"), 0o644))
			_, err = f.deploy(t, porter.Options{Flags: map[string]string{"fail-at": at}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "deploy rel-app to test")
			assert.Equal(t, id1, currentRelease(t, base), "current is as it was")
			assert.Equal(t, "v1\n", read(t, filepath.Join(base, "current", "app.py")))
			assert.Equal(t, []string{id1}, releaseDirs(t, base), "the failed release is removed")
			assert.Equal(t, before, readRecord(t, base, "rel-app"), "the record is unchanged")
			assert.NoFileExists(t, filepath.Join(base, ".porter", "rel-app", "lock.json"))
			assert.Empty(t, findTemps(t, base))

			// A plain re-run succeeds.
			_, err = f.deploy(t, porter.Options{})
			require.NoError(t, err)
			assert.Equal(t, "v2\n", read(t, filepath.Join(base, "current", "app.py")))
		})
	}
}

// A failed deploy that had recycled the oldest release (keep_releases
// reached) costs that one release, never more: the next deploy does not
// recycle (fewer than keep_releases are left) and copies the current one.
// Five failures in a row still leave a release to roll back to.
func TestReleasesFailureAfterRecyclingCostsOneRelease(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	base := filepath.Join(f.remote, "app")
	src := filepath.Join(f.local, "rel-app", "src")
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id1 := currentRelease(t, base)
	require.NoError(t, os.WriteFile(filepath.Join(src, "app.py"), []byte("v2\n"), 0o644))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id2 := currentRelease(t, base)
	assert.ElementsMatch(t, []string{id1, id2}, releaseDirs(t, base))

	for i := range 5 {
		require.NoError(t, os.WriteFile(filepath.Join(src, "app.py"), []byte(fmt.Sprintf("v%d\n", 3+i)), 0o644))
		_, err = f.deploy(t, porter.Options{Flags: map[string]string{"fail-at": "finish"}})
		require.Error(t, err)
		assert.Equal(t, id2, currentRelease(t, base))
		assert.Equal(t, "v2\n", read(t, filepath.Join(base, "current", "app.py")))
	}
	assert.Equal(t, []string{id2}, releaseDirs(t, base), "the first failure took the recycled release, no later one took another")

	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id3 := currentRelease(t, base)
	assert.ElementsMatch(t, []string{id2, id3}, releaseDirs(t, base))
	assert.Equal(t, "v2\n", read(t, filepath.Join(base, "releases", id2, "app.py")))
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	_, err = porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.NoError(t, err)
	assert.Equal(t, id2, currentRelease(t, base))
}

func TestReleasesFirstDeployFailingLeavesNoCurrent(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	base := filepath.Join(f.remote, "app")
	_, err := f.deploy(t, porter.Options{Flags: map[string]string{"fail-at": "finish"}})
	require.Error(t, err)
	_, err = os.Lstat(filepath.Join(base, "current"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Empty(t, releaseDirs(t, base))
}

func TestReleasesLeftoverOfADeadDeployIsRemoved(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	base := filepath.Join(f.remote, "app")
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	half := filepath.Join(base, "releases", "20200101T000000Z-half")
	require.NoError(t, os.MkdirAll(filepath.Join(half, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(half, "sub", "f"), []byte("x"), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(half, "sub"), 0o555)) // a read-only directory, as a build may leave
	t.Cleanup(func() { os.Chmod(filepath.Join(half, "sub"), 0o755) })
	require.NoError(t, os.WriteFile(filepath.Join(f.local, "rel-app", "src", "app.py"), []byte("v2\n"), 0o644))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.NoDirExists(t, half)
}

func TestReleasesSharedNameShippedBySourceIsAnError(t *testing.T) {
	files := releasesProject("")
	files["rel-app/src/.env"] = "SECRET=1\n"
	f := newFixture(t, files)
	_, err := f.deploy(t, porter.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[module] shared names .env, but the source ships .env too")
	_, err = os.Lstat(filepath.Join(f.remote, "app", "current"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestReleaseSettingsAreChecked(t *testing.T) {
	for _, tc := range []struct{ ini, want string }{
		{"strategy = atomic\n", `strategy = "atomic": want inplace or releases`},
		{"strategy = releases\nkeep_releases = 0\n", "keep_releases"},
		{"strategy = releases\nshared = ../etc\n", "shared"},
	} {
		f := newFixture(t, map[string]string{
			"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
			"a/a.ini":     "[module]\npath = $REMOTE/a\n" + tc.ini,
		})
		_, err := f.deploy(t, porter.Options{})
		require.Error(t, err, tc.ini)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func (f *fixture) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
		Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
	return cli.Run(context.Background()), out.String(), errb.String()
}

func TestRollback(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	base := filepath.Join(f.remote, "app")
	src := filepath.Join(f.local, "rel-app", "src")
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id1 := currentRelease(t, base)
	v1 := readRecord(t, base, "rel-app")
	require.NoError(t, os.WriteFile(filepath.Join(src, "app.py"), []byte("v2\n"), 0o644))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id2 := currentRelease(t, base)
	relSeen.Delete(base)

	code, out, errOut := f.cli(t, "rollback", "--host", "test")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Equal(t, "rel-app: rolled back from "+id2+" to "+id1+"\n", out)
	assert.Equal(t, id1, currentRelease(t, base))
	assert.Equal(t, "v1\n", read(t, filepath.Join(base, "current", "app.py")))
	v, _ := relSeen.Load(base)
	r1 := filepath.Join(base, "releases", id1)
	assert.Equal(t, []string{
		"rollback-start " + id2 + " -> " + id1 + " in " + r1,
		"rollback-finish " + id2 + " -> " + id1 + " in " + r1,
	}, *(v.(*[]string)), "the rollback signals, in the release rolled back to")

	rec := readRecord(t, base, "rel-app")
	assert.Equal(t, v1.Version, rec.Version)
	assert.Equal(t, v1.SettingsHash, rec.SettingsHash)
	assert.Equal(t, id1, rec.ReleaseID)
	assert.Equal(t, "rollback", rec.Event)
	assert.NoFileExists(t, filepath.Join(base, ".porter", "rel-app", "lock.json"))

	// The release rolled back from is never chosen again; nothing is left.
	code, _, errOut = f.cli(t, "rollback", "--host", "test", "rel-app")
	require.Equal(t, porter.ExitError, code)
	assert.Contains(t, errOut, "rollback rel-app on test: nothing to roll back to: the history names no good release before "+id1+
		" (releases: "+id1+" good current, "+id2+" good rolled back from)")
	assert.Equal(t, id1, currentRelease(t, base))

	// --to picks any good one.
	code, _, errOut = f.cli(t, "rollback", "--host", "test", "--to", id2, "rel-app")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Equal(t, id2, currentRelease(t, base))
	code, _, errOut = f.cli(t, "rollback", "--host", "test", "--to", "nope", "rel-app")
	require.Equal(t, porter.ExitError, code)
	assert.Contains(t, errOut, "nothing to roll back to: no release nope (releases: ")

	code, out, errOut = f.cli(t, "releases", "--host", "test")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^MODULE\s+RELEASE\s+VERSION\s+STATE\s+STARTED\s+BY\s+CURRENT$`, out)
	assert.Regexp(t, `(?m)^rel-app\s+`+id1+`\s+\S+\s+good, rolled back from\s+\S+ \S+\s+\S+@\S+\s*$`, out)
	assert.Regexp(t, `(?m)^rel-app\s+`+id2+`\s+\S+\s+good\s+.*current$`, out)

	code, out, errOut = f.cli(t, "status", "--host", "test")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, out, "(release "+id2+")")
}

func TestRollbackRefusesAnInPlaceModule(t *testing.T) {
	f := newFixture(t, twoModules())
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	_, err = porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Modules: []string{"a"}})
	require.ErrorIs(t, err, porter.ErrInPlace)
	assert.Contains(t, err.Error(), "rollback a on test: deployed in place (strategy = inplace)")
}

func TestRollbackWithNothingBeforeSaysWhatExists(t *testing.T) {
	f := newFixture(t, releasesProject(""))
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	_, err = porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.ErrorIs(t, err, porter.ErrNothingToRollBackTo)
	assert.Regexp(t, `releases: \S+ good current\)$`, err.Error())
}

// TestReleasesSeedHardlink: with seed = hardlink an unchanged file of the
// new release is the old release's file (one inode), a changed one is
// not: the sync replaces what it changes, so the old release keeps its.
func TestReleasesSeedHardlink(t *testing.T) {
	f := newFixture(t, releasesProject("seed = hardlink\n"))
	base := filepath.Join(f.remote, "app")
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id1 := currentRelease(t, base)
	require.NoError(t, os.WriteFile(filepath.Join(f.local, "rel-app", "src", "app.py"), []byte("v2\n"), 0o644))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id2 := currentRelease(t, base)
	r1, r2 := filepath.Join(base, "releases", id1), filepath.Join(base, "releases", id2)
	same := func(name string) bool {
		a, err := os.Stat(filepath.Join(r1, name))
		require.NoError(t, err)
		b, err := os.Stat(filepath.Join(r2, name))
		require.NoError(t, err)
		return os.SameFile(a, b)
	}
	assert.False(t, same("app.py"), "a changed file is a new file")
	assert.Equal(t, "v1\n", read(t, filepath.Join(r1, "app.py")))
	assert.True(t, same("gone.txt"), "an unchanged file is shared")

	// A file whose mode alone changes is replaced too: a chmod through the
	// link would change the live release's file.
	require.NoError(t, os.Chmod(filepath.Join(f.local, "rel-app", "src", "gone.txt"), 0o600))
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	r3 := filepath.Join(base, "releases", currentRelease(t, base))
	st2, err := os.Stat(filepath.Join(r2, "gone.txt"))
	require.NoError(t, err)
	st3, err := os.Stat(filepath.Join(r3, "gone.txt"))
	require.NoError(t, err)
	assert.False(t, os.SameFile(st2, st3), "a file whose mode changed is a new file")
	assert.Equal(t, os.FileMode(0o600), st3.Mode().Perm())
	assert.Equal(t, os.FileMode(0o644), st2.Mode().Perm(), "the older release keeps its mode")
}

// A release recycled from the oldest one takes SFTP requests only, on a
// host whose SFTP server copies files itself (OpenSSH 9.0 and later): no
// login shell starts (one costs 100 ms and more with rbenv, pyenv or nvm
// in .bashrc), and what changed since it was live comes from the current
// release on the host. (With shared names, or a hook's command, a shell
// starts at once.)
func TestReleasesRecycledStartsNoShell(t *testing.T) {
	if !sshdtest.Available() {
		t.Skip("needs OpenSSH's sshd")
	}
	srv := sshdtest.Start(t)
	if ok, err := srv.Dial(t).CanCopyFiles(context.Background()); err != nil || !ok {
		t.Skip("this OpenSSH's SFTP server has no copy-data", err)
	}
	local, remoteDir := t.TempDir(), t.TempDir()
	portertest.WriteFiles(t, local, map[string]string{
		"project.ini":    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini":    "[module]\npath = " + filepath.Join(remoteDir, "app") + "\nstrategy = releases\nkeep_releases = 2\n[scm]\nurl = dir://src\n",
		"app/src/a.txt":  "a1\n",
		"app/src/b.txt":  "b1\n",
		"app/config/t/x": "x\n",
	})
	src := filepath.Join(local, "app", "src")
	var logs bytes.Buffer
	deploy := func(change string, log bool) *porter.Report {
		t.Helper()
		if change != "" {
			require.NoError(t, os.WriteFile(filepath.Join(src, change), []byte(change+" changed "+time.Now().String()), 0o644))
			old := time.Now().Add(-time.Hour) // not within the second a deploy read it
			require.NoError(t, os.Chtimes(filepath.Join(src, change), old, old))
		}
		p, err := porter.LoadProject(local)
		require.NoError(t, err)
		opts := porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "t", Logger: discard}
		if log {
			logs.Reset()
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		rep, err := porter.Deploy(context.Background(), p, opts)
		require.NoError(t, err)
		return rep
	}
	deploy("", false)
	deploy("a.txt", false) // seeded with a copy of the first: the shell's cp
	rep := deploy("b.txt", true)
	assert.Contains(t, logs.String(), "recycled, brought up to date from")
	var shellLines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "shell") {
			shellLines = append(shellLines, l)
		}
	}
	// Neither prewarmed nor started to race the walk for the copies (a
	// loaded machine may still take loopback for a far host: that start
	// is not this test's).
	assert.NotContains(t, logs.String(), "why=prewarm", "no remote shell: %s", strings.Join(shellLines, "\n"))
	assert.NotContains(t, logs.String(), "copies from Basis need the shell", strings.Join(shellLines, "\n"))
	st := rep.Hosts[0].Modules[0].Sync
	assert.Equal(t, 1, st.Copied, "a.txt, from the current release: %s", st)
	base := filepath.Join(remoteDir, "app")
	cur := filepath.Join(base, "releases", currentRelease(t, base))
	for _, n := range []string{"a.txt", "b.txt"} {
		assert.Equal(t, read(t, filepath.Join(src, n)), read(t, filepath.Join(cur, n)), n)
	}
}

// A host with no remote shell (an SFTP-only account: every session is
// OpenSSH's internal-sftp) takes inplace deploys over SFTP alone: files
// changed, a directory removed, a symlink made. strategy = releases
// needs the shell's commands and says so.
func TestDeployOnAHostWithNoShell(t *testing.T) {
	if !sshdtest.Available() {
		t.Skip("needs OpenSSH's sshd")
	}
	srv := sshdtest.Start(t, sshdtest.WithConfig("ForceCommand internal-sftp"))
	deploy := func(local string) error {
		p, err := porter.LoadProject(local)
		require.NoError(t, err)
		_, err = porter.Deploy(context.Background(), p, porter.Options{
			Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "t", Logger: discard})
		return err
	}
	project := func(strategy string) (local, path string) {
		local, path = t.TempDir(), filepath.Join(t.TempDir(), "app")
		portertest.WriteFiles(t, local, map[string]string{
			"project.ini":     "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
			"app/app.ini":     "[module]\npath = " + path + "\nstrategy = " + strategy + "\ndelete = true\nconfig = x\n[scm]\nurl = dir://src\n",
			"app/src/a.txt":   "a0\n",
			"app/src/d/b.txt": "b\n",
			"app/config/t/x":  "x\n",
		})
		require.NoError(t, os.Symlink("a.txt", filepath.Join(local, "app/src/ln")))
		return local, path
	}

	local, path := project("inplace")
	src := filepath.Join(local, "app", "src")
	for i := range 3 {
		if i == 2 {
			require.NoError(t, os.RemoveAll(filepath.Join(src, "d")))
		}
		require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte(fmt.Sprintf("a%d\n", i)), 0o644))
		require.NoError(t, deploy(local), "deploy %d", i)
		assert.Equal(t, fmt.Sprintf("a%d\n", i), read(t, filepath.Join(path, "a.txt")))
	}
	assert.NoDirExists(t, filepath.Join(path, "d"))
	target, err := os.Readlink(filepath.Join(path, "ln"))
	require.NoError(t, err)
	assert.Equal(t, "a.txt", target)
	assert.Equal(t, "x\n", read(t, filepath.Join(path, "x")))

	local, _ = project("releases")
	err = deploy(local)
	require.ErrorIs(t, err, remote.ErrShellBroken)
	assert.Contains(t, err.Error(), "strategy = releases makes, seeds, switches and removes releases with commands in a remote shell, which this host did not give (strategy = inplace needs none)")
}
