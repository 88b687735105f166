//go:build !unix

package conn

import (
	"errors"
	"net"
)

// nbWriter is not available here: keepalive writes wait for the socket
// on a goroutine of their own.
type nbWriter struct{}

func newNBWriter(net.Conn) *nbWriter { return nil }

func (*nbWriter) write([]byte) (int, error) { return 0, errors.New("not supported") }
