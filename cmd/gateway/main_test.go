package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real gateway as a child process (the test binary
// re-executed with GATEWAY_TEST_CHILD set), so crash tests can kill it for real.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_CHILD") == "1" {
		args := strings.Split(os.Getenv("GATEWAY_TEST_ARGS"), "\x1f")
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, args, os.Getenv, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is the gateway running as a separate process.
type child struct {
	cmd     *exec.Cmd
	URL     string
	Metrics string // where /metrics is served
	done    chan error
}

var listenRE = regexp.MustCompile(`msg="gateway listening".* addr=(\S+) .* metrics=(\S+)`)

// startChild runs the gateway in a child process and waits until it listens.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CHILD=1", "GATEWAY_TEST_ARGS="+strings.Join(args, "\x1f"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1:]
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case a := <-addr:
		c.URL, c.Metrics = "http://"+a[0], a[1]
	case err := <-c.done:
		t.Fatalf("the gateway exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not start within a minute")
	}
	return c
}
