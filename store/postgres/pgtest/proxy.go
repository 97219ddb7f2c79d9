package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a real server until told to stop: Stall stops every
// connection, present and future, and Cut stops only the present ones, as a network path
// that stopped passing traffic without closing anything does (a failed-over address, a
// firewall that forgot an idle connection). The connections it stops stay open; they
// just never carry another byte.
type Proxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	done    chan struct{}
	mu      sync.Mutex
	links   []*link
}

// link is one forwarded connection: the client's side and the server's.
type link struct {
	client, server net.Conn
	cut            atomic.Bool
}

// NewProxy forwards to target (host:port) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, done: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Through returns dsn (a URL) leading through a new Proxy, and the proxy.
func Through(t testing.TB, dsn string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	p := NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// Addr is where the proxy listens.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops every connection, present and future, from carrying anything further.
func (p *Proxy) Stall() { p.stalled.Store(true) }

// Cut stops the connections open now from carrying anything further; later ones are
// forwarded as before.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.cut.Store(true)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: up}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go p.pipe(l, up, c)
		go p.pipe(l, c, up)
	}
}

// pipe copies src to dst, holding every chunk while the proxy or the link is stopped.
func (p *Proxy) pipe(l *link, dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() || l.cut.Load() {
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Close stops the proxy and drops every connection, so nothing waits on it afterwards.
// It runs when the test ends; a test may call it earlier.
func (p *Proxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.client.Close()
		l.server.Close()
	}
}
