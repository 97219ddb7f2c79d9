// Command gateway is the district's data-sharing gateway. With no arguments it starts the
// demo: the four department simulators in-process, SQLite and a generated signing key
// under ./data, GraphQL at http://127.0.0.1:8080/graphql. See `gateway --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // help was asked for and printed
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}
