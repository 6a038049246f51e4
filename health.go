package porter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// maxHealthOutput bounds what a health check keeps of an HTTP body or a
// command's output (stdout and stderr together).
const maxHealthOutput = 512

// HealthResult is what a module's health check found
// ([ModuleReport.Health]).
type HealthResult struct {
	// Check is what was checked: the URL (a password masked) or
	// `command "CMD"`.
	Check  string
	Passed bool
	// Tries is how many tries ran; Last is what the last one got.
	Tries int
	Last  HealthTry
}

// HealthTry is what one try of a health check got.
type HealthTry struct {
	// Status is the HTTP status of the response (http:// only; 0 when
	// there was no response).
	Status int
	// Exit is the exit status of health_command: -1 when it did not
	// exit (it ran out of time, the connection was lost), and for the
	// other checks.
	Exit int
	// Output is the first bytes (at most 512) of the HTTP body or of the
	// command's output (stdout then stderr), made printable as
	// remote.Printable does.
	Output string
	// Err is why the try failed; nil when it passed.
	Err error
}

// Got says what the try got, in one line: `status 503, want 200: body
// "down"`, `exit status 1: output "not ready"`, or the error.
func (t HealthTry) Got() string {
	if t.Err == nil {
		switch {
		case t.Status != 0:
			return "status " + strconv.Itoa(t.Status)
		case t.Exit == 0:
			return "exit status 0"
		}
		return "connected"
	}
	s := remote.Printable(t.Err.Error())
	switch {
	case t.Output == "":
	case t.Status != 0:
		s += ": body " + strconv.Quote(t.Output)
	default:
		s += ": output " + strconv.Quote(t.Output)
	}
	return s
}

// HealthError is a deploy's error when the module's health check never
// passed. Unwrap gives the last try's error (context.DeadlineExceeded for
// a try that ran out of time).
type HealthError struct {
	Module string
	Host   string // [hosts] name
	Result HealthResult
}

// Error reads "deploy MODULE to HOST: health check CHECK failed after N
// tries: what the last one got".
func (e *HealthError) Error() string {
	tries := "1 try"
	if e.Result.Tries != 1 {
		tries = strconv.Itoa(e.Result.Tries) + " tries"
	}
	return fmt.Sprintf("deploy %s to %s: health check %s failed after %s: %s", e.Module, e.Host, e.Result.Check, tries, e.Result.Last.Got())
}

// Unwrap returns the last try's error.
func (e *HealthError) Unwrap() error { return e.Result.Last.Err }

// HealthCheck returns what the module's health check found in this
// deploy, or nil when it did not run (no check, or the deploy failed
// before it).
func (m *Module) HealthCheck() *HealthResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checked == nil {
		return nil
	}
	r := *m.checked
	return &r
}

// checkHealth runs the module's health check, if it has one, after
// SigDeployFinish: up to health_retries tries of health_timeout each,
// health_interval apart, until one passes. A check that never passes is a
// *HealthError.
func (m *Module) checkHealth(ctx context.Context) error {
	c := m.health
	if c == nil {
		return nil
	}
	defer m.timed("health", time.Now())
	res := HealthResult{Check: c.subject()}
	defer func() {
		m.mu.Lock()
		m.checked = &res
		m.mu.Unlock()
	}()
	if m.host == nil {
		return fmt.Errorf("deploy %s: health check: module %s is not connected to a host", m.Name(), m.Name())
	}
	run := c.runner(m.host, m.CurrentPath())
	defer run.close()
	for {
		res.Tries++
		res.Last = run.try(ctx, c)
		m.log.Debug("health check try", "check", res.Check, "try", res.Tries, "of", c.tries, "got", res.Last.Got())
		if res.Last.Err == nil {
			res.Passed = true
			m.log.Info("health check passed", "check", res.Check, "tries", res.Tries, "got", res.Last.Got())
			return nil
		}
		if res.Tries >= c.tries || ctx.Err() != nil {
			return m.healthFailed(res)
		}
		if err := waitCtx(ctx, c.interval); err != nil {
			res.Last.Err = fmt.Errorf("%w; then stopped before try %d: %w", res.Last.Err, res.Tries+1, err)
			return m.healthFailed(res)
		}
	}
}

// waitCtx waits d, or until ctx ends (its error then).
func waitCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (m *Module) healthFailed(res HealthResult) error {
	m.log.Info("health check failed", "check", res.Check, "tries", res.Tries, "got", res.Last.Got())
	return &HealthError{Module: m.Name(), Host: m.hostName, Result: res}
}

// healthRunner makes the tries of one check over one connection.
type healthRunner struct {
	h      *remote.Host
	dir    string       // where health_command runs: the module's current path
	client *http.Client // http:// only
}

func (c *healthCheck) runner(h *remote.Host, dir string) *healthRunner {
	r := &healthRunner{h: h, dir: dir}
	if c.kind == healthHTTP {
		r.client = &http.Client{
			// The host's own address and port, through the SSH
			// connection: never a proxy of this machine's environment.
			Transport: &http.Transport{
				DialContext:            h.DialContext,
				Proxy:                  nil,
				DisableKeepAlives:      true,
				MaxResponseHeaderBytes: 64 << 10,
			},
			// A redirect is the answer: following it could leave the host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return r
}

func (r *healthRunner) close() {
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
}

// try makes one try, bounded by health_timeout.
func (r *healthRunner) try(ctx context.Context, c *healthCheck) HealthTry {
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var t HealthTry
	switch c.kind {
	case healthHTTP:
		t = r.tryHTTP(tctx, c)
	case healthTCP:
		t = HealthTry{Exit: -1}
		if conn, err := r.h.DialContext(tctx, "tcp", c.url.Host); err != nil {
			t.Err = err
		} else {
			conn.Close()
		}
	default:
		t = r.tryCommand(tctx, c)
	}
	if t.Err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		// The try's own bound, not the deploy's.
		t.Err = fmt.Errorf("no answer within %s (health_timeout): %w", c.timeout, context.DeadlineExceeded)
	}
	return t
}

func (r *healthRunner) tryHTTP(ctx context.Context, c *healthCheck) HealthTry {
	t := HealthTry{Exit: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		t.Err = err
		return t
	}
	req.Header.Set("User-Agent", "porter-health-check/"+Version())
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the check's name already
		}
		t.Err = err
		return t
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHealthOutput))
	t.Status, t.Output = resp.StatusCode, remote.Printable(string(body))
	if !c.status.has(resp.StatusCode) {
		t.Err = fmt.Errorf("status %d, want %s", resp.StatusCode, c.status)
	}
	return t
}

// tryCommand runs health_command on the host in /bin/sh, in the module's
// current path (the release just switched to), its stdout and stderr
// together and cut on the host to the first bytes (the rest is read and
// dropped there, so the command never dies of a closed pipe).
func (r *healthRunner) tryCommand(ctx context.Context, c *healthCheck) HealthTry {
	t := HealthTry{}
	n := strconv.Itoa(maxHealthOutput)
	cmd := "cd -P -- " + remote.Quote(r.dir) + " && { s=$( { { /bin/sh -c " + remote.Quote(c.command) + " 2>&1 </dev/null 3>&- 4>&-; printf %s \"$?\" >&3; } | { head -c " + n +
		" >&4; cat >/dev/null; }; } 3>&1 ); } 4>&1; exit \"${s:-97}\""
	out, err := r.h.Run(ctx, cmd)
	t.Output = remote.Printable(string(out.Stdout))
	var ee *remote.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Signal == "" && ee.Status > 0:
		t.Exit, t.Err = ee.Status, fmt.Errorf("exit status %d", ee.Status)
	case errors.As(err, &ee) && ee.Signal != "":
		t.Exit, t.Err = -1, fmt.Errorf("killed by signal %s", ee.Signal)
	default:
		t.Exit, t.Err = -1, err
	}
	return t
}
