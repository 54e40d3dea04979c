//go:build !unix

package upstream

import (
	"errors"
	"net"
	"time"
)

// closedByPeer reports whether the upstream closed c while it was idle:
// where the socket cannot be peeked at without waiting, a read that waits
// a millisecond at most.
func (c *h1Conn) closedByPeer() bool {
	if c.br.Buffered() > 0 {
		return true
	}
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}
