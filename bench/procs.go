package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started; its output goes to a log file, and lines that
// match the watched patterns are handed to the harness.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error

	mu      sync.Mutex
	matches map[string][]string // pattern name → submatches of its latest line
	wake    chan struct{}
}

// startChild starts bin with args, logging to dir/name.log, and watches its output for
// the patterns.
func startChild(name, dir, bin string, args []string, env []string, workDir string, patterns map[string]*regexp.Regexp) (*child, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = workDir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{}), matches: map[string][]string{}, wake: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			for pname, re := range patterns {
				if m := re.FindStringSubmatch(line); m != nil {
					c.mu.Lock()
					c.matches[pname+"\x00"+m[1]] = m
					c.matches[pname] = m
					close(c.wake)
					c.wake = make(chan struct{})
					c.mu.Unlock()
				}
			}
		}
		io.Copy(logFile, pr)
		logFile.Close()
	}()
	go func() {
		c.err = cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// await waits until the named pattern has matched, and returns its submatches.
func (c *child) await(pattern string, timeout time.Duration) ([]string, error) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		m, wake := c.matches[pattern], c.wake
		c.mu.Unlock()
		if m != nil {
			return m, nil
		}
		select {
		case <-wake:
		case <-c.done:
			return nil, fmt.Errorf("%s exited (%v) before it was ready; see %s:\n%s", c.name, c.err, c.logPath, tail(c.logPath, 15))
		case <-deadline:
			return nil, fmt.Errorf("%s not ready after %s; see %s:\n%s", c.name, timeout, c.logPath, tail(c.logPath, 15))
		}
	}
}

// match returns the submatches of the pattern's line whose first group was key.
func (c *child) match(pattern, key string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.matches[pattern+"\x00"+key]
}

// stop ends the process (and nothing else): SIGTERM, then SIGKILL after a grace period.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// The lines of the gateway's and the simulators' logs that the harness relies on
// (docs/operators.md, Logs): one per simulator with its address, and the listening line.
var (
	simLineRE     = regexp.MustCompile(`msg="department simulator started" department=(\S+) protocol=\S+ addr=("[^"]*"|\S+)`)
	listeningRE   = regexp.MustCompile(`msg="gateway listening".*? addr=(\S+)`)
	simReadyRE    = regexp.MustCompile(`(A gateway for these simulators): .*--config (\S+)`)
	ceilingLineRE = regexp.MustCompile(`(ceiling listening) on (\S+)`)
	csvLoadedRE   = regexp.MustCompile(`msg="csvdrop: export loaded".*? file=(\S+)`)
)

// gatewayProc is a running gateway with what the harness learned from its log.
type gatewayProc struct {
	*child
	URL     string // http://host:port
	PSB     string // simulator base URLs (in-process simulators in demo mode), "" if none
	AMR     string
	Startup time.Duration
}

// startGateway starts the gateway binary and waits until it is listening and healthy.
func startGateway(ctx context.Context, name, dir, bin string, args []string, timeout time.Duration) (*gatewayProc, error) {
	t0 := time.Now()
	c, err := startChild(name, dir, bin, args, nil, "", map[string]*regexp.Regexp{"sim": simLineRE, "listening": listeningRE, "csvLoaded": csvLoadedRE})
	if err != nil {
		return nil, err
	}
	m, err := c.await("listening", timeout)
	if err != nil {
		c.stop()
		return nil, err
	}
	g := &gatewayProc{child: c, URL: "http://" + m[1]}
	if err := waitHealthy(ctx, g.URL+"/healthz", 30*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	g.Startup = time.Since(t0)
	for _, dept := range []string{"psb", "amr"} {
		if m := c.match("sim", dept); m != nil {
			base, err := simBase(strings.Trim(m[2], `"`))
			if err != nil {
				c.stop()
				return nil, err
			}
			if dept == "psb" {
				g.PSB = base
			} else {
				g.AMR = base
			}
		}
	}
	return g, nil
}

// simProc is `gateway sim`: the four simulators alone, for a gateway run with --config and
// for the peer.
type simProc struct {
	*child
	PSB, AMR   string // base URLs
	ConfigPath string // DIR/sim/gateway.yaml
	AMRKey     string
}

func startSim(dir, bin, dataDir string, args []string, timeout time.Duration) (*simProc, error) {
	c, err := startChild("sim", dir, bin, append([]string{"sim", "--data", dataDir}, args...), nil, "",
		map[string]*regexp.Regexp{"sim": simLineRE, "ready": simReadyRE})
	if err != nil {
		return nil, err
	}
	m, err := c.await("ready", timeout)
	if err != nil {
		c.stop()
		return nil, err
	}
	s := &simProc{child: c, ConfigPath: m[2]}
	for _, dept := range []string{"psb", "amr"} {
		sm := c.match("sim", dept)
		if sm == nil {
			c.stop()
			return nil, fmt.Errorf("gateway sim did not log the %s simulator's address; see %s", dept, c.logPath)
		}
		base, err := simBase(strings.Trim(sm[2], `"`))
		if err != nil {
			c.stop()
			return nil, err
		}
		if dept == "psb" {
			s.PSB = base
		} else {
			s.AMR = base
		}
	}
	b, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		c.stop()
		return nil, err
	}
	if s.AMRKey, err = amrKeyFromConfig(string(b)); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: %w", s.ConfigPath, err)
	}
	return s, nil
}

// amrKeyFromConfig finds the AMR binding's API key in the configuration `gateway sim`
// writes (departments: - id: amr … auth: header: X-API-Key, key: …). A line scan keeps the
// harness free of a YAML dependency; the file's layout is the gateway's own marshalling.
func amrKeyFromConfig(yaml string) (string, error) {
	inAMR := false
	for line := range strings.Lines(yaml) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "- id:") {
			inAMR = strings.TrimSpace(strings.TrimPrefix(t, "- id:")) == "amr"
			continue
		}
		if inAMR {
			if v, ok := strings.CutPrefix(t, "key:"); ok {
				return strings.Trim(strings.TrimSpace(v), `"'`), nil
			}
		}
	}
	return "", errors.New("no API key in the amr department's auth")
}

func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := ctlClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s (last: %v)", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mintToken runs `gateway token` against the data directory's demo key.
func mintToken(bin, dataDir, consumer, citizen string) (string, error) {
	args := []string{"token", "--consumer", consumer, "--data", dataDir, "--ttl", "12h"}
	if citizen != "" {
		args = append(args, "--citizen", citizen)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("gateway token --consumer %s: %w: %s", consumer, err, ee.Stderr)
		}
		return "", fmt.Errorf("gateway token --consumer %s: %w", consumer, err)
	}
	tok := strings.TrimSpace(string(out))
	if strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("gateway token --consumer %s printed %q, not a JWT", consumer, tok)
	}
	return tok, nil
}
