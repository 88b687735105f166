//go:build !unix

package conn

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf is nil here: keepalive writes go through the write lock's
// waiting goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func tryWrite(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("not supported")
}
