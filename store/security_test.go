package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nva-project/nva/app/model"
)

// openTCP opens a bootstrapped single-node store over a real TCP
// transport on loopback, with the given raft TLS identity (nil: plain).
func openTCP(t *testing.T, id string, tlsConf *tls.Config, token string) *Store {
	t.Helper()
	cfg := clusterConfig(t, id)
	cfg.InMemory = true
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.RaftTLS = tlsConf
	cfg.MemberToken = token
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitFor(t, 10*time.Second, id+" to lead", func() bool { return s.stateCurrent() })
	return s
}

// attacker is a raft transport of a non-member: it dials with dial.
type attacker struct {
	trans *raft.NetworkTransport
}

type dialStream struct {
	net.Listener
	dial func(addr string) (net.Conn, error)
}

func (d dialStream) Dial(a raft.ServerAddress, _ time.Duration) (net.Conn, error) {
	return d.dial(string(a))
}

func newAttacker(t *testing.T, dial func(addr string) (net.Conn, error)) *attacker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(dialStream{ln, dial}, 1, 2*time.Second, nil)
	t.Cleanup(func() { trans.Close() })
	return &attacker{trans: trans}
}

// forge sends a RequestVote for a much later term and an AppendEntries
// that appends and commits a create-vn "mallory" at the node's next index.
// It returns the errors of both RPCs and whether they were answered with
// success.
func (a *attacker) forge(t *testing.T, s *Store) (voteErr, appendErr error, granted, appended bool) {
	t.Helper()
	target := raft.ServerAddress(s.RaftAddr())
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("mallory"), Addr: []byte("127.0.0.1:1")}
	term := s.raft.CurrentTerm()
	last := s.raft.LastIndex()
	lastTerm, _ := strconv.ParseUint(s.raft.Stats()["last_log_term"], 10, 64)
	var vr raft.RequestVoteResponse
	voteErr = a.trans.RequestVote("victim", target, &raft.RequestVoteRequest{
		RPCHeader: hdr, Term: term + 10, LastLogIndex: last + 100, LastLogTerm: term + 10, LeadershipTransfer: true,
	}, &vr)
	data := encode(t, &createVN{ReqID: "forged", Obj: model.VN{Name: "mallory"}})
	var ar raft.AppendEntriesResponse
	appendErr = a.trans.AppendEntries("victim", target, &raft.AppendEntriesRequest{
		RPCHeader: hdr, Term: term + 20, PrevLogEntry: last, PrevLogTerm: lastTerm,
		Entries:           []*raft.Log{{Index: last + 1, Term: term + 20, Type: raft.LogCommand, Data: data}},
		LeaderCommitIndex: last + 1,
	}, &ar)
	return voteErr, appendErr, voteErr == nil && vr.Granted, appendErr == nil && ar.Success
}

// TestForgedRaftRPCs: a non-member's RequestVote and AppendEntries are
// heard by a node without TLS (the control: the forged RPCs do work) and
// not by a node with mutual TLS, neither over plain TCP nor with a
// certificate of another CA nor with a client-only certificate of the
// cluster CA: the TLS node appends nothing and stays leader in its term.
func TestForgedRaftRPCs(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP transports")
	}
	ca, other := newTestCA(t, "cluster CA"), newTestCA(t, "other CA")

	// Control: a plain node is unseated and applies the forged entry.
	plain := openTCP(t, "plain", nil, "")
	term := plain.raft.CurrentTerm()
	_, _, _, appended := newAttacker(t, func(a string) (net.Conn, error) { return net.Dial("tcp", a) }).forge(t, plain)
	if !appended || plain.raft.CurrentTerm() <= term {
		t.Fatalf("control: the forged RPCs did not reach the plain node (appended %v, term %d -> %d): the test proves nothing", appended, term, plain.raft.CurrentTerm())
	}
	waitFor(t, 5*time.Second, "control: the forged VN applied on the plain node", func() bool { return plain.Snapshot().VNs["mallory"] != nil })

	s := openTCP(t, "victim", ca.nodeTLS("victim"), "")
	if _, err := s.CreateVN(context.Background(), "", model.VN{Name: "blue"}); err != nil {
		t.Fatal(err)
	}
	clientOnly := ca.issue("operator", x509.ExtKeyUsageClientAuth)
	otherNode := other.nodeTLS("mallory")
	for name, dial := range map[string]func(string) (net.Conn, error){
		"plain TCP": func(a string) (net.Conn, error) { return net.Dial("tcp", a) },
		"another CA's certificate": func(a string) (net.Conn, error) {
			c := otherNode.Clone()
			c.InsecureSkipVerify = true // the attacker does not care who answers
			return tls.Dial("tcp", a, c)
		},
		"a client-only certificate of the cluster CA": func(a string) (net.Conn, error) {
			return tls.Dial("tcp", a, &tls.Config{Certificates: []tls.Certificate{clientOnly}, RootCAs: ca.pool, ServerName: "127.0.0.1"})
		},
	} {
		term, last := s.raft.CurrentTerm(), s.raft.LastIndex()
		voteErr, appendErr, granted, appended := newAttacker(t, dial).forge(t, s)
		if granted || appended || voteErr == nil || appendErr == nil {
			t.Errorf("%s: vote granted %v (%v), entries appended %v (%v)", name, granted, voteErr, appended, appendErr)
		}
		if !s.IsLeader() || s.raft.CurrentTerm() != term || s.raft.LastIndex() != last {
			t.Errorf("%s: the node heard it: leader %v, term %d -> %d, last index %d -> %d", name, s.IsLeader(), term, s.raft.CurrentTerm(), last, s.raft.LastIndex())
		}
	}
	// Still a working leader, without the forged VN.
	if _, err := s.CreateVN(context.Background(), "", model.VN{Name: "green"}); err != nil {
		t.Fatal(err)
	}
	if s.Snapshot().VNs["mallory"] != nil {
		t.Fatal("the forged VN was applied on the TLS node")
	}
}

// TestMemberAPIRefusesNonMembers: the member API (served on the cluster
// port) answers only members: with TLS a node certificate of the cluster
// CA, with a token that token, without either callers on loopback only.
func TestMemberAPIRefusesNonMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP transports")
	}
	ca, other := newTestCA(t, "cluster CA"), newTestCA(t, "other CA")
	s := openTCP(t, "n1", ca.nodeTLS("n1"), "")
	statusURL := "https://" + s.RaftAddr() + pathStatus
	get := func(c *http.Client, url string, hdr ...string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	client := func(c *tls.Config) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
	}
	otherNode := other.nodeTLS("mallory")
	otherNode.InsecureSkipVerify = true
	for name, c := range map[string]*http.Client{
		"plain HTTP":            {Timeout: 5 * time.Second},
		"TLS without a cert":    client(&tls.Config{RootCAs: ca.pool}),
		"another CA's cert":     client(otherNode),
		"a client-only cert":    client(&tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue("operator", x509.ExtKeyUsageClientAuth)}}),
		"a member (control)":    client(ca.nodeTLS("n2")),
		"a member, join (ctrl)": client(ca.nodeTLS("n3")),
	} {
		url := statusURL
		if name == "plain HTTP" {
			url = "http://" + s.RaftAddr() + pathStatus
		}
		code, err := get(c, url)
		member := strings.Contains(name, "member")
		if member && (err != nil || code != http.StatusOK) {
			t.Errorf("%s: %d %v, want 200", name, code, err)
		}
		if !member && err == nil {
			t.Errorf("%s: answered %d, want the connection refused", name, code)
		}
	}
	// A join from a non-member never reaches the leader.
	bad := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: otherNode}}
	jctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := requestJoin(jctx, bad, "", "https://"+s.RaftAddr(), NodeInfo{ID: "evil", RaftAddr: "127.0.0.1:1"}); err == nil {
		t.Error("join with another CA's certificate accepted")
	}
	if cf := s.raft.GetConfiguration(); cf.Error() != nil || len(cf.Configuration().Servers) != 1 {
		t.Errorf("configuration after refused joins: %+v", cf.Configuration())
	}

	// With a token and no TLS: the token is required.
	tok := openTCP(t, "t1", nil, "s3cret-cluster-token")
	url := "http://" + tok.RaftAddr() + pathStatus
	if code, err := get(http.DefaultClient, url); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no token: %d %v, want 401", code, err)
	}
	if code, err := get(http.DefaultClient, url, "Authorization", "Bearer wrong"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %v, want 401", code, err)
	}
	if code, err := get(http.DefaultClient, url, "Authorization", "Bearer s3cret-cluster-token"); err != nil || code != http.StatusOK {
		t.Errorf("right token: %d %v, want 200", code, err)
	}

	// Neither: loopback callers only.
	plain := openTCP(t, "p1", nil, "")
	h := plain.memberAuth(plain.InternalHandler())
	for addr, want := range map[string]int{"127.0.0.1:4000": http.StatusOK, "[::1]:4000": http.StatusOK, "192.0.2.7:4000": http.StatusForbidden} {
		r := httptest.NewRequest(http.MethodGet, pathStatus, nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("plain member API from %s: %d, want %d", addr, w.Code, want)
		}
	}
}

// TestInternalCommandCaps: forwarded commands are size-capped; one with the
// ignore-if-unknown flag is taken only when small.
func TestInternalCommandCaps(t *testing.T) {
	s := openMem(t)
	srv := httptest.NewServer(s.InternalHandler())
	defer srv.Close()
	small := append([]byte{byte(0x7f | flagIgnoreUnknown), 1}, `{"x":1}`...)
	if code, raw := post(t, srv.URL+pathApply, "application/octet-stream", small, headerForwarded, "n2"); code != http.StatusOK {
		t.Fatalf("small ignorable command: %d %s", code, raw)
	}
	big := append([]byte{byte(0x7f | flagIgnoreUnknown), 1}, strings.Repeat("x", maxIgnorableCommand)...)
	last := s.raft.LastIndex()
	if code, raw := post(t, srv.URL+pathApply, "application/octet-stream", big, headerForwarded, "n2"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("large ignorable command: %d %s", code, raw)
	}
	huge := append([]byte{byte(cmdCreateVN), 1}, strings.Repeat(" ", maxCommandBody)...)
	if code, raw := post(t, srv.URL+pathApply, "application/octet-stream", huge, headerForwarded, "n2"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized command: %d %s", code, raw)
	}
	if s.raft.LastIndex() != last {
		t.Fatalf("refused commands reached the log: last index %d -> %d", last, s.raft.LastIndex())
	}
}

// TestJoinUnreachableKeepsQuorum: a join naming a node that never answers
// adds a non-voter, which is never promoted; the single voter keeps
// writing, and the stale non-voter can be removed.
func TestJoinUnreachableKeepsQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP transport")
	}
	ctx := context.Background()
	s := openTCP(t, "n1", nil, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ghost := ln.Addr().String()
	ln.Close() // nothing listens there
	if err := s.Join(ctx, NodeInfo{ID: "ghost", RaftAddr: ghost, APIAddr: "http://" + ghost}); err != nil {
		t.Fatalf("join ghost: %v", err)
	}
	voter := func(id string) (found, isVoter bool) {
		info, err := s.Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range info.Nodes {
			if n.ID == id {
				return true, n.Voter
			}
		}
		return false, false
	}
	if found, v := voter("ghost"); !found || v {
		t.Fatalf("ghost after join: found %v voter %v, want a non-voter", found, v)
	}
	for i := range 5 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.CreateVN(wctx, "", model.VN{Name: fmt.Sprintf("vn%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("write %d with an unreachable non-voter: %v", i, err)
		}
	}
	s.promoteCaughtUp(ctx) // a promotion round: the ghost does not answer
	if _, v := voter("ghost"); v {
		t.Fatal("an unreachable non-voter was promoted")
	}
	if err := s.RemoveNode(ctx, "ghost"); err != nil {
		t.Fatalf("remove ghost: %v", err)
	}
	if found, _ := voter("ghost"); found {
		t.Fatal("ghost still a member after removal")
	}
	if _, err := s.CreateVN(ctx, "", model.VN{Name: "after"}); err != nil {
		t.Fatal(err)
	}
}
