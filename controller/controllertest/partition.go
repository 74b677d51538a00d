package controllertest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Partition is a TCP proxy in front of a server that can cut the network
// silently, the way a pulled cable or a dropping firewall does: no RST,
// no FIN, bytes simply stop arriving. Cut holds every byte of the
// connections it has (both ways) and makes connections opened during the
// cut go nowhere; Heal lets new connections through again, while the
// ones from before stay held, as a dead peer's TCP connection does until
// the server notices; Release delivers what those held connections sent
// and resumes them (a retransmission that finally got through: what a
// stopped agent said before the cut reaches the server late). Without
// Release the held bytes are simply lost.
type Partition struct {
	l        net.Listener
	upstream string
	accepted atomic.Int32

	mu    sync.Mutex
	cut   bool
	conns []*proxied
	dead  []net.Conn // opened during a cut, never forwarded
}

// proxied is one forwarded connection.
type proxied struct {
	mu       sync.Mutex
	down, up net.Conn
	held     bool
	toUp     []byte
	toDown   []byte
	// closed records a side that closed while held: the other side is
	// closed once the held bytes are delivered.
	downClosed, upClosed bool
}

// StartPartition proxies to upstream (host:port) on a random loopback
// port until the test ends.
func StartPartition(t testing.TB, upstream string) *Partition {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Partition{l: l, upstream: upstream}
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.down.Close()
			c.up.Close()
		}
		for _, c := range p.dead {
			c.Close()
		}
	})
	go p.serve()
	return p
}

// Addr is the proxy's host:port.
func (p *Partition) Addr() string { return p.l.Addr().String() }

// URL is u (a controller or server URL) with its host and port replaced
// by the proxy's.
func (p *Partition) URL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "nats://" + p.Addr()
	}
	pu.Host = p.Addr()
	return pu.String()
}

// Accepted counts the connections the proxy took, cut or not.
func (p *Partition) Accepted() int { return int(p.accepted.Load()) }

func (p *Partition) serve() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		cut := p.cut
		if cut {
			p.dead = append(p.dead, down)
		}
		p.mu.Unlock()
		if cut {
			go discard(down)
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		c := &proxied{down: down, up: up}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go c.pipe(down, true)
		go c.pipe(up, false)
	}
}

func discard(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			c.Close()
			return
		}
	}
}

// pipe copies from src (the client side when upward) to the other side,
// or keeps the bytes while the connection is held.
func (c *proxied) pipe(src net.Conn, upward bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		c.mu.Lock()
		if n > 0 {
			switch {
			case c.held && upward:
				c.toUp = append(c.toUp, buf[:n]...)
			case c.held:
				c.toDown = append(c.toDown, buf[:n]...)
			case upward:
				_, _ = c.up.Write(buf[:n])
			default:
				_, _ = c.down.Write(buf[:n])
			}
		}
		if err != nil {
			switch {
			case c.held && upward:
				c.downClosed = true
			case c.held:
				c.upClosed = true
			case upward:
				c.up.Close()
			default:
				c.down.Close()
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Cut holds every connection and sends new ones nowhere.
func (p *Partition) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.mu.Lock()
		c.held = true
		c.mu.Unlock()
	}
}

// Heal forwards new connections again; those held by Cut stay held.
func (p *Partition) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Release delivers what the held connections sent during the cut and
// forwards them again; a side that closed meanwhile is closed after its
// bytes.
func (p *Partition) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mu.Lock()
		if c.held {
			_, _ = c.up.Write(c.toUp)
			_, _ = c.down.Write(c.toDown)
			c.toUp, c.toDown, c.held = nil, nil, false
			if c.downClosed {
				c.up.Close()
			}
			if c.upClosed {
				c.down.Close()
			}
		}
		c.mu.Unlock()
	}
}
