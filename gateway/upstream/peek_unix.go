//go:build unix

package upstream

import "syscall"

// closedByPeer reports whether the upstream closed c (or sent something it
// should not have) while it was idle, without blocking: a peek at the
// socket that does not wait.
func (c *h1Conn) closedByPeer() bool {
	if c.br.Buffered() > 0 {
		return true
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Data (n > 0), end of stream (n == 0) or an error other than
		// "nothing to read yet" all mean the connection is not usable.
		closed = n >= 0 && err == nil || err != nil && err != syscall.EAGAIN
		return true
	})
	return closed
}
