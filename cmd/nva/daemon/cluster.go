package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nva-project/nva/web/wire"
)

// Cluster security (issue 13): how the members reach each other and who
// may join.
//
//   - The cluster port (--raft-addr) carries raft and the member API
//     (leader forwarding, read index, join, remove, status; see store's
//     member.go). With a TLS identity (--tls-cert/--tls-key/--tls-ca) both
//     are mutual TLS: only nodes with a certificate of the cluster CA are
//     heard. Nothing of it is served on the REST listener.
//   - Without TLS the cluster port is plain TCP, which anyone who reaches
//     it could use to forge raft RPCs; so it must be a loopback address
//     (the embedded default 127.0.0.1:8300, local development clusters),
//     unless --insecure-cluster says otherwise, loudly, and then a
//     --join-token is required. Refusing raft RPCs from addresses outside
//     the configuration is no protection (addresses are easy to borrow on
//     a shared network); TLS is.
//   - --join-token is a shared secret every member presents on the member
//     API and requires from its callers: the authentication of joins when
//     TLS is off (with TLS it is an optional second factor). Every member
//     must be started with the same token.
//   - A joining node enters as a non-voter and is promoted once it has
//     caught up, so a join can never take the quorum away.

// checkCluster validates the cluster security settings.
func (s *Settings) checkCluster(origin map[string]string) []error {
	if s.TLSEnabled() {
		return nil
	}
	if _, err := checkRaft(s.RaftAddr); err != nil {
		return nil // reported by the raft-addr check
	}
	h, _, _ := net.SplitHostPort(s.RaftAddr)
	switch {
	case !loopback(h) && !s.InsecureCluster:
		return []error{&SettingError{Name: "raft-addr", Value: s.RaftAddr, Origin: origin["raft-addr"],
			Forms: formsRaft, Reason: "a non-loopback cluster address needs TLS (--tls-cert, --tls-key, --tls-ca): anyone who reaches a plain raft port can forge raft RPCs and call the member API; --insecure-cluster with --join-token overrides this"}}
	case !loopback(h) && s.JoinToken == "":
		return []error{&SettingError{Name: "insecure-cluster", Value: "true", Origin: origin["insecure-cluster"],
			Reason: "needs --join-token: without TLS the member API on a non-loopback address is authenticated by that shared secret only"}}
	}
	return nil
}

// clusterWarnings are the loud log lines of an insecure cluster.
func (s *Settings) clusterWarnings() []string {
	if s.TLSEnabled() || !s.InsecureCluster {
		return nil
	}
	if h, _, err := net.SplitHostPort(s.RaftAddr); err == nil && loopback(h) {
		return nil
	}
	return []string{fmt.Sprintf("--insecure-cluster: the cluster port %s is plain TCP on a non-loopback address: anyone who reaches it can forge raft RPCs (append entries, unseat the leader); use --tls-cert/--tls-key/--tls-ca", s.RaftAddr)}
}

// apiScheme is the scheme of the REST API: https once the node has a TLS
// identity.
func (s *Settings) apiScheme() string {
	if s.TLSEnabled() {
		return "https"
	}
	return "http"
}

// apiTLS is the REST listener's TLS configuration (nil without TLS): the
// node certificate, and client certificates requested but not required;
// one that verifies against the cluster CA is visible to the handlers in
// r.TLS.VerifiedChains (an authentication method), nothing more.
func apiTLS(node *tls.Config) *tls.Config {
	if node == nil {
		return nil
	}
	c := node.Clone()
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}

// startJoin asks the members given by --join to add this node, in the
// background; Joined is closed at once when there is nothing to join.
func (d *Daemon) startJoin(ctx context.Context) {
	targets := d.cfg.JoinURLs()
	if len(targets) == 0 {
		close(d.joined)
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.joinLoop(ctx, targets)
	}()
}

// joinLoop asks a member to add this node, over the member API (mutual TLS
// or the join token), trying each --join entry in turn with exponential
// backoff until one accepts or ctx ends. An entry is a member's cluster
// address (HOST:PORT, its --raft-addr), or a REST API URL whose
// GET /api/v1/cluster names the members' cluster addresses.
func (d *Daemon) joinLoop(ctx context.Context, targets []string) {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if d.st.IsMember() { // a restart: the configuration lists this node
			d.log.Info("already a cluster member; nothing to join")
			close(d.joined)
			return
		}
		for _, target := range targets {
			err := d.joinOnce(ctx, target)
			if err == nil {
				d.log.Info("joined cluster; a voter once caught up", "via", target, "attempt", attempt)
				close(d.joined)
				return
			}
			var perm permanentError
			if errors.As(err, &perm) {
				d.log.Error("cluster refused to add this node; not retrying", "via", target, "err", err)
				return
			}
			d.log.Warn("join failed; will retry", "via", target, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 10*time.Second {
			backoff = 10 * time.Second
		}
	}
}

// joinOnce tries one --join entry.
func (d *Daemon) joinOnce(ctx context.Context, target string) error {
	members := []string{target}
	if strings.Contains(target, "://") {
		var err error
		if members, err = d.clusterAddrs(ctx, target); err != nil {
			return err
		}
	}
	var errs []error
	for _, m := range members {
		jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := d.st.JoinVia(jctx, m)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// clusterAddrs reads the members' cluster addresses, leader first, from
// a REST API's GET /api/v1/cluster.
func (d *Daemon) clusterAddrs(ctx context.Context, base string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cluster", nil)
	if err != nil {
		return nil, err
	}
	d.authorizeRequest(req) // --token-file: an API that requires tokens
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, permanentError{fmt.Errorf("GET %s/api/v1/cluster: %s (the API requires an admin token: --token-file, or give --join the member's cluster address HOST:PORT)", base, resp.Status)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/api/v1/cluster: %s", base, resp.Status)
	}
	var cv wire.ClusterView
	if err := json.NewDecoder(resp.Body).Decode(&cv); err != nil {
		return nil, fmt.Errorf("GET %s/api/v1/cluster: %w", base, err)
	}
	var out []string
	for _, n := range cv.Nodes {
		if n.RaftAddr == "" || n.ID == d.cfg.NodeID && n.RaftAddr == d.cfg.RaftAddr {
			continue
		}
		if n.Leader {
			out = append([]string{n.RaftAddr}, out...)
		} else {
			out = append(out, n.RaftAddr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("GET %s/api/v1/cluster names no other member", base)
	}
	return out, nil
}

// permanentError is a join failure that retrying cannot fix (a
// configuration error): the join loop gives up on it.
type permanentError struct{ error }
