package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// The member API (InternalHandler: leader forwarding, read index, join,
// remove, status) is served by the store itself on its cluster port, next
// to raft (see stream.go), never on the client-facing REST listener. Who
// may call it:
//
//   - with Config.RaftTLS, members: the connection is mutual TLS with a
//     node certificate of the cluster CA (checked by the stream layer
//     before a byte is read);
//   - with Config.MemberToken, callers that present it as a bearer token
//     (on top of TLS when both are set);
//   - with neither (the loopback development default), callers on this
//     machine only: a request from a non-loopback address is refused.
//
// The member client (forwarding, join, status probes) dials members'
// raft addresses with the same identity.

// serveMembers serves the member API on the stream layer's HTTP side.
func (s *Store) serveMembers(stream *streamLayer) {
	s.stream = stream
	s.memberHTTP = &http.Server{
		Handler:           s.memberAuth(s.InternalHandler()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.cfg.ApplyTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = s.memberHTTP.Serve(newMemberListener(stream)) }()
	if s.client == nil {
		tr := &http.Transport{
			DialContext:         stream.dialTCP,
			TLSClientConfig:     stream.client, // nil without TLS
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		}
		s.client = &http.Client{Transport: tr, Timeout: s.cfg.ApplyTimeout + 5*time.Second}
	}
}

// closeMembers stops the member API server.
func (s *Store) closeMembers() {
	if s.memberHTTP != nil {
		_ = s.memberHTTP.Close()
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
}

// memberURL is the base URL of a member's API: its raft address.
func (s *Store) memberURL(raftAddr string) string {
	if s.stream != nil && s.stream.client != nil {
		return "https://" + raftAddr
	}
	return "http://" + raftAddr
}

// memberAuth refuses callers that are not members (see above). With TLS
// the stream layer has authenticated the connection already.
func (s *Store) memberAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.cfg.MemberToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				writeJSON(w, http.StatusUnauthorized, wireError{Message: "member API: missing or wrong cluster token"})
				return
			}
		} else if s.cfg.RaftTLS == nil && !loopbackAddr(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, wireError{Message: "member API: without TLS or a cluster token only this machine may call it"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackAddr reports whether a host:port is a loopback address.
func loopbackAddr(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// IsMember reports whether this node's raft configuration lists it (as a
// voter or a non-voter): a restarted member has nothing to join.
func (s *Store) IsMember() bool { return s.inConfig() }

// JoinVia asks the cluster member whose cluster (raft) address is member
// to add this node (its Self metadata), over the member API: the member
// forwards the request to the leader, which adds the node as a non-voter
// and promotes it to voter once it has caught up. It retries while the
// cluster has no leader or the member is unreachable, until ctx ends; a
// refusal (wrong identity or token, a clashing ID) is returned at once.
func (s *Store) JoinVia(ctx context.Context, member string) error {
	if s.client == nil {
		return errors.New("store: join: this node has no network transport")
	}
	return requestJoin(ctx, s.client, s.cfg.MemberToken, s.memberURL(member), s.Self())
}

// RequestJoin posts a join of n to the member API at base (a URL serving
// InternalHandler) with client (one with timeouts if nil) and no
// credentials beyond what client presents; it retries like JoinVia. Tests
// and tools use it; members use JoinVia, which presents their identity.
func RequestJoin(ctx context.Context, client *http.Client, base string, n NodeInfo) error {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return requestJoin(ctx, client, "", base, n)
}

func requestJoin(ctx context.Context, client *http.Client, token, base string, n NodeInfo) error {
	backoff := 100 * time.Millisecond
	for {
		var ri readIndexResponse
		err := doInternal(ctx, client, "", token, http.MethodPost, joinURL(base, pathJoin), "application/json", mustJSON(n), &ri)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join via %s: %w (last: %v)", base, ctx.Err(), err)
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}
