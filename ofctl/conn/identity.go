package conn

import (
	"crypto/tls"
	"crypto/x509"
)

// PeerCertificate is the leaf certificate the switch presented in the TLS
// handshake (verified against the listener's ClientCAs when it requires
// client certificates); nil on a plain connection or when the switch sent
// none.
func (s *Switch) PeerCertificate() *x509.Certificate {
	tc, ok := s.conn.(*tls.Conn)
	if !ok {
		return nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}
