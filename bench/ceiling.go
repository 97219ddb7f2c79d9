package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// serveCeiling is the hidden `bench ceiling` command: the ceiling of the comparison, a
// plain net/http server in its own process that answers every POST with the bytes the
// gateway answered S2u with. Whatever the gateway does beyond that (auth, parsing,
// planning, policy, cache, audit) is the difference between the two rows.
func serveCeiling(args []string) error {
	fs := flag.NewFlagSet("bench ceiling", flag.ContinueOnError)
	bodyPath := fs.String("body", "", "file with the response body to serve")
	contentType := fs.String("content-type", "application/json", "Content-Type of the response")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("ceiling listening on %s (%d bytes)\n", ln.Addr(), len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // read the request as the gateway must
		w.Header().Set("Content-Type", *contentType)
		w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return srv.Serve(ln)
}
