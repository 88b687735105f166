package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// The switch side of TLS and the listener policy.
//
// With a TLS identity (--tls-cert, --tls-key, --tls-ca) the OpenFlow
// listener speaks TLS with the node's certificate and requires every
// switch to present a certificate signed by the switch CA (--switch-ca,
// default --tls-ca): the CA of the switches' certificates, e.g. ovs-pki's
// switchca. The switches are told ssl:HOST:PORT. OVSDB ssl: endpoints are
// dialed with the node's certificate as the client certificate and the
// server verified against the same switch CA. An NVE may further pin the
// certificate its switch presents (switch_identity).
//
// Secure by default: every listener binds loopback unless told otherwise,
// and binding a non-loopback address on a channel without TLS fails at
// startup unless --insecure-listen accepts it (then loudly logged).

// SwitchTLSEnabled reports whether the OpenFlow listener speaks TLS: the
// node has a TLS identity and listens on TCP (a unix socket stays plain:
// only local processes reach it, and Open vSwitch has no TLS over unix
// sockets).
func (s *Settings) SwitchTLSEnabled() bool {
	return s.TLSEnabled() && !strings.HasPrefix(s.OpenFlowAddr, "unix:")
}

// switchCAFile is --switch-ca, or --tls-ca when it is not set.
func (s *Settings) switchCAFile() (file, flag string) {
	if s.SwitchCA != "" {
		return s.SwitchCA, "switch-ca"
	}
	return s.TLSCA, "tls-ca"
}

// SwitchTLS returns the OpenFlow listener's TLS configuration (the node's
// certificate; client certificates required and verified against the
// switch CA; nil when SwitchTLSEnabled is false) and the OVSDB client's
// base configuration (the node's certificate as the client certificate,
// the switch CA as RootCAs; nil without a TLS identity).
func (s *Settings) SwitchTLS() (listener, ovsdbClient *tls.Config, err error) {
	node, err := s.NodeTLS()
	if err != nil || node == nil {
		return nil, nil, err
	}
	file, flag := s.switchCAFile()
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, &tlsFileError{flag, err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, &tlsFileError{flag, errors.New("no PEM certificate in the file")}
	}
	ovsdbClient = node.Clone()
	ovsdbClient.RootCAs = pool
	ovsdbClient.ClientCAs = nil
	if s.SwitchTLSEnabled() {
		listener = node.Clone()
		listener.ClientCAs = pool
		listener.RootCAs = nil
		listener.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return listener, ovsdbClient, nil
}

// checkSwitchTLS validates --switch-ca: only with a TLS identity, and a
// readable PEM bundle.
func (s *Settings) checkSwitchTLS(origin map[string]string) []error {
	if s.SwitchCA == "" {
		return nil
	}
	bad := func(reason string) []error {
		return []error{&SettingError{Name: "switch-ca", Value: s.SwitchCA, Origin: origin["switch-ca"], Reason: reason, Forms: formsSwitchCA}}
	}
	if !s.TLSEnabled() {
		return bad("needs this node's TLS identity (--tls-cert, --tls-key, --tls-ca): the switches verify nva by it")
	}
	if _, _, err := s.SwitchTLS(); err != nil {
		var te *tlsFileError
		if errors.As(err, &te) && te.name == "switch-ca" {
			return bad(te.err.Error())
		}
	}
	return nil
}

// listeners: which listener flags bind where, and whether that
// channel speaks TLS.
func (s *Settings) listeners() []struct {
	name, addr string
	tls        bool
} {
	return []struct {
		name, addr string
		tls        bool
	}{
		// The REST API is HTTPS with the node's TLS identity. The cluster
		// port (raft-addr) has its own, stricter rule: checkCluster.
		{"api-addr", s.APIAddr, s.TLSEnabled()},
		{"openflow-addr", s.OpenFlowAddr, s.SwitchTLSEnabled()},
	}
}

// exposed reports whether a listen address reaches beyond this machine:
// an empty or unspecified host, or one that is not loopback. unix: sockets
// do not.
func exposed(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return false
	}
	h, _, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp:"))
	if err != nil {
		return false // reported by the address's own check
	}
	return !loopback(h)
}

// checkListeners: a non-loopback plain-text listener needs
// --insecure-listen. Listeners already reported (prior) are skipped.
func (s *Settings) checkListeners(origin map[string]string, prior []error) []error {
	if s.InsecureListen {
		return nil
	}
	reported := map[string]bool{}
	for _, e := range prior {
		var se *SettingError
		if errors.As(e, &se) {
			reported[se.Name] = true
		}
	}
	var errs []error
	for _, l := range s.listeners() {
		if exposed(l.addr) && !l.tls && !reported[l.name] {
			errs = append(errs, &SettingError{Name: l.name, Value: l.addr, Origin: origin[l.name],
				Reason: "binds a non-loopback address without TLS; give this node a TLS identity (--tls-cert, --tls-key, --tls-ca) where the channel supports it, bind a loopback address, or accept plain text on the network with --insecure-listen (labs)"})
		}
	}
	return errs
}

// insecureWarnings are the loud lines --insecure-listen earns.
func (s *Settings) insecureWarnings() []string {
	if !s.InsecureListen {
		return nil
	}
	var w []string
	for _, l := range s.listeners() {
		if exposed(l.addr) && !l.tls {
			w = append(w, fmt.Sprintf("INSECURE (--insecure-listen): --%s %s accepts plain text from the network: anyone who can reach it can read and change this node's state", l.name, l.addr))
		}
	}
	return w
}

// completeOpenFlowTarget makes the advertised OpenFlow target match the
// listener: with TLS, a derived or bare HOST:PORT target becomes
// ssl:HOST:PORT, and a tcp: one is an error (the switches could never
// connect).
func (s *Settings) completeOpenFlowTarget(origin map[string]string, derived bool) error {
	if !s.SwitchTLSEnabled() || s.OpenFlowAdvertise == "" {
		return nil
	}
	switch {
	case strings.HasPrefix(s.OpenFlowAdvertise, "ssl:"):
	case strings.HasPrefix(s.OpenFlowAdvertise, "tcp:"):
		if derived {
			s.OpenFlowAdvertise = "ssl:" + strings.TrimPrefix(s.OpenFlowAdvertise, "tcp:")
			return nil
		}
		return &SettingError{Name: "openflow-advertise", Value: s.OpenFlowAdvertise, Origin: origin["openflow-advertise"],
			Reason: "the OpenFlow listener speaks TLS (this node has a TLS identity): the switches must be told ssl:HOST:PORT", Forms: formsOpenFlowAdvertise}
	default:
		s.OpenFlowAdvertise = "ssl:" + s.OpenFlowAdvertise
	}
	return nil
}
