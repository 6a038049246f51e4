// A small disk for tests of a full one: WithSmallDisk.

package portertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pkg/sftp"
)

// ErrNoSmallDisk is what [Start] returns with [WithSmallDisk] where no
// small file system can be made: neither a tmpfs mount (which needs root)
// nor a user and mount namespace (which needs util-linux's unshare and
// nsenter, and a kernel that lets users make namespaces). [NewServer]
// skips the test on it.
var ErrNoSmallDisk = errors.New("portertest: no small disk here: run as root (a tmpfs is mounted), or where `unshare -Ur -m` works (a tmpfs in a namespace of the server's own)")

// WithSmallDisk gives the server a directory on a file system of size
// bytes, for tests of a full disk: [Server.Disk] names it, and writes past
// size fail with "No space left on device" on the server's SFTP and in its
// commands alike.
//
// As root it is a tmpfs mounted at the directory. Otherwise the tmpfs is
// mounted in a user and mount namespace of the server's own (unshare -Ur
// -m): the server's commands (through nsenter) and its SFTP (the test
// binary, run again as an SFTP server in the namespace) see it there; the
// test process does not, and reads what landed through [Server.Local]. In
// the namespace commands run as its root, which is the test's user
// outside it.
func WithSmallDisk(size int64) ServerOption { return func(o *options) { o.diskSize = size } }

// smallDisk is the server's WithSmallDisk file system.
type smallDisk struct {
	dir     string
	mounted bool           // a tmpfs mounted in the test's own namespace
	holder  *exec.Cmd      // else: the namespace's first process, until hold is closed
	hold    io.WriteCloser // its stdin
	nsenter []string       // nsenter -t PID -U -m --preserve-credentials
}

// newSmallDisk makes the directory and its file system.
func newSmallDisk(size int64) (*smallDisk, error) {
	dir, err := os.MkdirTemp("", "portertest-disk-")
	if err != nil {
		return nil, err
	}
	if mountTmpfs(dir, size) == nil {
		return &smallDisk{dir: dir, mounted: true}, nil
	}
	d, err := namespaceDisk(dir, size)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return d, nil
}

// namespaceDisk mounts a tmpfs at dir in a new user and mount namespace,
// held by a process that waits for the end of its stdin.
func namespaceDisk(dir string, size int64) (*smallDisk, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoSmallDisk, err)
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoSmallDisk, err)
	}
	cmd := exec.Command(unshare, "-U", "-r", "-m", "/bin/sh", "-c",
		`mount -t tmpfs -o size="$1" tmpfs "$2" && echo ready && exec cat >/dev/null`, "sh", strconv.FormatInt(size, 10), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	hold, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoSmallDisk, err)
	}
	line, _ := bufio.NewReader(io.LimitReader(out, 64)).ReadString('\n')
	if line != "ready\n" {
		hold.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w (unshare: %s)", ErrNoSmallDisk, strings.TrimSpace(stderr.String()))
	}
	return &smallDisk{dir: dir, holder: cmd, hold: hold,
		nsenter: []string{nsenter, "-t", strconv.Itoa(cmd.Process.Pid), "-U", "-m", "--preserve-credentials"}}, nil
}

// command returns the argv that runs argv in the disk's namespace, in
// directory wd (argv itself without a namespace).
func (d *smallDisk) command(wd string, argv ...string) []string {
	if d == nil || d.nsenter == nil {
		return argv
	}
	return append(append(append([]string(nil), d.nsenter...), "--wd="+wd, "--"), argv...)
}

// resize gives the file system a new size.
func (d *smallDisk) resize(size int64) error {
	if d.mounted {
		return remountTmpfs(d.dir, size)
	}
	argv := d.command("/", "mount", "-t", "tmpfs", "-o", "remount,size="+strconv.FormatInt(size, 10), "tmpfs", d.dir)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// local is p as the test process sees it.
func (d *smallDisk) local(p string) string {
	if d == nil || d.holder == nil || !filepath.IsAbs(p) {
		return p
	}
	return "/proc/" + strconv.Itoa(d.holder.Process.Pid) + "/root" + p
}

// close unmounts the file system (or ends its namespace) and removes the
// directory.
func (d *smallDisk) close() error {
	var err error
	if d.mounted {
		err = unmount(d.dir)
	} else {
		d.hold.Close()
		_ = d.holder.Wait()
	}
	if err == nil {
		err = os.RemoveAll(d.dir)
	}
	return err
}

// Disk returns the directory of [WithSmallDisk], as the server's commands
// and SFTP see it ("" without the option).
func (s *Server) Disk() string {
	if s.disk == nil {
		return ""
	}
	return s.disk.dir
}

// Local returns where the test reads the path p of the host: p itself,
// but for an absolute p with [WithSmallDisk] in a namespace, where the
// namespace's files are reached from outside (/proc/PID/root/p).
func (s *Server) Local(p string) string { return s.disk.local(p) }

// ResizeDisk gives the file system of [WithSmallDisk] a new size (free
// space again, for a re-run).
func (s *Server) ResizeDisk(size int64) error {
	if s.disk == nil {
		return errors.New("portertest: ResizeDisk: the server has no WithSmallDisk")
	}
	if err := s.disk.resize(size); err != nil {
		return fmt.Errorf("portertest: resize the disk at %s: %w", s.disk.dir, err)
	}
	return nil
}

// sftpHelperEnv, set to a directory, makes a process of a test binary that
// imports portertest serve SFTP on its stdin and stdout, in that working
// directory, and exit: it is how a server with a namespaced small disk
// serves SFTP inside the namespace.
const sftpHelperEnv = "PORTERTEST_SFTP_SERVER_IN"

func init() {
	if wd := os.Getenv(sftpHelperEnv); wd != "" {
		os.Exit(serveSFTPStdio(wd))
	}
}

// serveSFTPStdio serves SFTP on stdin and stdout until the end of stdin.
func serveSFTPStdio(wd string) int {
	srv, err := sftp.NewServer(stdio{os.Stdin, os.Stdout}, sftp.WithServerWorkingDirectory(wd))
	if err != nil {
		fmt.Fprintln(os.Stderr, "portertest: sftp server:", err)
		return 1
	}
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "portertest: sftp server:", err)
		return 1
	}
	return 0
}

// stdio is a process's stdin and stdout as one stream.
type stdio struct {
	io.Reader
	io.WriteCloser
}

// startSFTPHelper starts the SFTP server of a namespaced disk: this binary
// again, in the namespace, on the channel; wait waits for it to exit.
func (s *Server) startSFTPHelper(in io.Reader, out, errw io.Writer) (wait func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := s.disk.command(s.home, exe)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), sftpHelperEnv+"="+s.home)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, errw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Wait, nil
}
