package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// peerDir holds the peer's npm project: package.json, package-lock.json, the Mesh
// compose configuration and Hive Gateway's configuration (bench/peer).
type peerSetup struct {
	dir  string
	node string
}

// findPeer says why the peer cannot run, or how to run it.
func findPeer(repo string) (peerSetup, error) {
	dir := filepath.Join(repo, "bench", "peer")
	node, err := exec.LookPath("node")
	if err != nil {
		return peerSetup{}, errors.New("node is not installed (Node.js ≥ 20 runs the peer)")
	}
	for _, bin := range []string{"mesh-compose", "hive-gateway"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", bin)); err != nil {
			return peerSetup{}, fmt.Errorf("%s is not installed: run bench/peer/setup.sh (npm ci in bench/peer)", bin)
		}
	}
	return peerSetup{dir: dir, node: node}, nil
}

func (p peerSetup) version() string {
	out, err := exec.Command(p.node, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// compose writes the supergraph of the AMR simulator at amrURL into out.
func (p peerSetup) compose(ctx context.Context, amrURL, apiKey, out string) error {
	cmd := exec.CommandContext(ctx, p.node, filepath.Join(p.dir, "node_modules", ".bin", "mesh-compose"), "-o", out)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "AMR_URL="+amrURL, "AMR_API_KEY="+apiKey)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mesh-compose: %w\n%s", err, b)
	}
	return nil
}

var hiveReadyRE = regexp.MustCompile(`(?i)(listening|serving|started).*?(http://\S+)`)

// start runs Hive Gateway on the supergraph and waits until it answers a query.
// fork > 1 runs that many node workers (hive-gateway --fork); its default is one process.
func (p peerSetup) start(ctx context.Context, logDir, supergraph string, fork int) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := []string{filepath.Join(p.dir, "node_modules", ".bin", "hive-gateway"), "supergraph", "-c", "gateway.config.ts",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	if fork > 1 {
		args = append(args, "--fork", strconv.Itoa(fork))
	}
	c, err := startChild("hive-gateway", logDir, p.node, args, []string{"SUPERGRAPH=" + supergraph}, p.dir,
		map[string]*regexp.Regexp{"ready": hiveReadyRE})
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/graphql", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := ctlClient.Do(req)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(b.String(), "Query") {
				return c, url, nil
			}
		}
		select {
		case <-c.done:
			return nil, "", fmt.Errorf("hive-gateway exited: %v; see %s:\n%s", c.err, c.logPath, tail(c.logPath, 15))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, "", fmt.Errorf("hive-gateway did not answer at %s; see %s:\n%s", url, c.logPath, tail(c.logPath, 15))
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
