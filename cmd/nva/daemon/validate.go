package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/ovsdb"
	"github.com/nva-project/nva/web"
)

// The accepted forms of each setting, as its errors quote them.
const (
	formsNodeID            = "1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
	formsDataDir           = "a directory path (created when missing)"
	formsListen            = "HOST:PORT or :PORT (all interfaces), PORT 0-65535"
	formsRaft              = "HOST:PORT with a HOST the other members can dial (not empty, 0.0.0.0 or ::), PORT 0-65535"
	formsOpenFlowListen    = "HOST:PORT, :PORT, tcp:HOST:PORT or unix:PATH"
	formsOpenFlowAdvertise = ovsdb.ControllerTargetForms + " (ovs-vsctl set-controller syntax)"
	formsURL               = "http://HOST[:PORT] or https://HOST[:PORT]"
	formsJoin              = "comma-separated members, each a cluster address HOST:PORT (the member's --raft-addr) or a REST API URL " + formsURL
	formsJoinToken         = "a secret of at least 16 characters, without spaces"
	formsLogFormat         = "text or json"
	formsLogLevel          = "debug, info, warn or error"
	formsDebug             = "empty (off), :PORT (127.0.0.1) or HOST:PORT"
	formsPEMFile           = "a readable PEM file; --tls-cert, --tls-key and --tls-ca are set together or not at all"
	formsCounterInterval   = "a duration of at least 1s (e.g. 10s, 1m), or 0 (off)"
	formsAuditInterval     = "a duration of at least 1s (e.g. 60s, 5m), or 0 or off (no periodic audits)"
	formsSwitchCA          = "a readable PEM file of CA certificates, with --tls-cert, --tls-key and --tls-ca set"
	formsMaxConns          = "a number of connections, at least 1"
)

// SettingError is an invalid setting. Its message names the flag, the
// value, where the value came from when known, what is wrong, the accepted
// forms and the flag's environment variable:
//
//	--openflow-advertise: "bogus::": too many colons in address; want HOST:PORT, tcp:HOST:PORT or ssl:HOST:PORT (ovs-vsctl set-controller syntax) (env NVA_OPENFLOW_ADVERTISE)
type SettingError struct {
	Name   string // flag name (= YAML key)
	Value  string
	Origin string // "environment NVA_X", "key x in FILE", "the command line" or ""
	Reason string
	Forms  string
}

func (e *SettingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--%s: %q", e.Name, e.Value)
	if e.Origin != "" && e.Origin != "the command line" {
		fmt.Fprintf(&b, " (from %s)", e.Origin)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	if e.Forms != "" {
		fmt.Fprintf(&b, "; want %s", e.Forms)
	}
	if !strings.HasPrefix(e.Origin, "environment ") {
		fmt.Fprintf(&b, " (env %s)", envName(e.Name))
	}
	return b.String()
}

// Complete validates every setting and fills the derived defaults
// (api-advertise, openflow-advertise) and normal forms (debug-addr :PORT
// binds 127.0.0.1). The error joins one *SettingError per bad setting.
func (s *Settings) Complete() error { return s.complete(nil) }

// complete is Complete with the origin of each setting's value (flag
// name -> "environment NVA_X", ...) for the messages.
func (s *Settings) complete(origin map[string]string) error {
	var errs []error
	bad := func(name, value, reason string) {
		st, _ := settingNamed(name)
		errs = append(errs, &SettingError{Name: name, Value: value, Origin: origin[name], Reason: reason, Forms: st.forms})
	}
	check := func(name string, p *string, f func(string) (string, error)) bool {
		v, err := f(*p)
		if err != nil {
			bad(name, *p, err.Error())
			return false
		}
		*p = v
		return true
	}
	check("node-id", &s.NodeID, checkNodeID)
	check("data-dir", &s.DataDir, checkDataDir)
	apiOK := check("api-addr", &s.APIAddr, checkListen)
	check("raft-addr", &s.RaftAddr, checkRaft)
	ofOK := check("openflow-addr", &s.OpenFlowAddr, checkOpenFlowListen)
	advOK := s.APIAdvertise == "" || check("api-advertise", &s.APIAdvertise, checkBaseURL)
	if s.OpenFlowAdvertise != "" {
		check("openflow-advertise", &s.OpenFlowAdvertise, checkOpenFlowAdvertise)
	}
	if s.Join != "" {
		check("join", &s.Join, checkJoin)
	}
	check("log-format", &s.LogFormat, checkLogFormat)
	check("log-level", &s.LogLevel, checkLogLevel)
	check("debug-addr", &s.DebugAddr, checkDebugAddr)
	if s.CounterInterval != "" {
		check("counter-interval", &s.CounterInterval, checkCounterInterval)
	}
	if s.LearnedAge != "" { // learned.go
		check("learned-age", &s.LearnedAge, checkLearnedAge)
	}
	if s.AuditInterval != "" { // southbound audits (rest-cpu)
		check("audit-interval", &s.AuditInterval, checkAuditInterval)
	}
	if s.MemoryLimit != "" { // memlimit.go
		check("memory-limit", &s.MemoryLimit, checkMemoryLimit)
	}
	s.completeAuth(origin, bad)
	// REST hardening and the OVSDB endpoint policy (sec-rest).
	check("api-max-conns", &s.APIMaxConns, checkMaxConns)
	check("ovsdb-allow", &s.OVSDBAllow, checkOVSDBAllow)
	if s.Bootstrap && s.Join != "" {
		errs = append(errs, &SettingError{Name: "bootstrap", Value: "true", Origin: origin["bootstrap"],
			Reason: "cannot be combined with --join: --bootstrap founds a new cluster, --join enters an existing one"})
	}
	errs = append(errs, s.checkTLS(origin)...)
	errs = append(errs, s.checkSwitchTLS(origin)...)
	errs = append(errs, s.checkListeners(origin, errs)...)
	errs = append(errs, s.checkCluster(origin)...)
	if _, err := checkJoinToken(s.JoinToken); s.JoinToken != "" && err != nil {
		bad("join-token", "(redacted)", err.Error()) // never echo a secret
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Derived defaults, from valid values only. With an ephemeral API
	// port (":0", tests) the advertised URL is derived by Start from the
	// bound listener.
	if apiOK && s.APIAdvertise == "" && !ephemeral(s.APIAddr) {
		s.APIAdvertise = s.apiScheme() + "://" + advertiseHostPort(s.APIAddr, "")
	}
	apiHost := ""
	if u, err := url.Parse(s.APIAdvertise); advOK && s.APIAdvertise != "" && err == nil {
		apiHost = u.Hostname()
	} else if h, _, err := net.SplitHostPort(s.APIAddr); err == nil {
		apiHost = h
	}
	derived := false
	if ofOK && s.OpenFlowAdvertise == "" && !strings.HasPrefix(s.OpenFlowAddr, "unix:") {
		s.OpenFlowAdvertise = advertiseHostPort(strings.TrimPrefix(s.OpenFlowAddr, "tcp:"), apiHost)
		derived = true
	}
	return s.completeOpenFlowTarget(origin, derived)
}

// Warnings are what a valid configuration still deserves a loud log line
// for; Start logs them at warn level.
func (s *Settings) Warnings() []string {
	w := s.clusterWarnings()
	if h, _, err := net.SplitHostPort(s.DebugAddr); err == nil && s.DebugAddr != "" && !loopback(h) {
		w = append(w, fmt.Sprintf("--debug-addr %s is not a loopback address: anyone who can reach it can profile this node and read its goroutine stacks", s.DebugAddr))
	}
	if strings.HasPrefix(s.OpenFlowAdvertise, "ssl:") && !s.SwitchTLSEnabled() {
		w = append(w, fmt.Sprintf("--openflow-advertise %s tells the switches to use TLS, but this node's OpenFlow listener (%s) is plain TCP: something in between must terminate TLS", s.OpenFlowAdvertise, s.OpenFlowAddr))
	}
	w = append(w, s.insecureWarnings()...)
	if s.OpenFlowAdvertise == "" && strings.HasPrefix(s.OpenFlowAddr, "unix:") {
		w = append(w, fmt.Sprintf("--openflow-addr %s is a unix socket and --openflow-advertise is not set: the OVS NVEs are not told to connect to this node", s.OpenFlowAddr))
	}
	return w
}

func checkNodeID(v string) (string, error) {
	if v == "" {
		return v, errors.New("must not be empty")
	}
	if !model.ValidName(v) {
		return v, errors.New("not a valid node ID")
	}
	return v, nil
}

func checkDataDir(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return v, errors.New("must not be empty")
	}
	if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
		return v, errors.New("exists and is not a directory")
	}
	return v, nil
}

// splitHostPort splits HOST:PORT and checks the port is a number 0-65535
// and the host, when given, an IP address or a DNS name.
func splitHostPort(v string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, errors.New(ae.Err)
		}
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number 0-65535", p)
	}
	if h != "" && !validHost(h) {
		return "", 0, fmt.Errorf("host %q is neither an IP address nor a DNS name", h)
	}
	return h, n, nil
}

// validHost accepts an IP address (with an IPv6 zone) or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func checkListen(v string) (string, error) {
	_, _, err := splitHostPort(v)
	return v, err
}

func checkRaft(v string) (string, error) {
	h, _, err := splitHostPort(v)
	if err != nil {
		return v, err
	}
	if unspecified(h) {
		return v, errors.New("the other members dial this address: give a host they can reach")
	}
	return v, nil
}

// checkOpenFlowListen accepts what ofctl's listener does.
func checkOpenFlowListen(v string) (string, error) {
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" {
			return v, errors.New("empty socket path")
		}
		return v, nil
	}
	_, _, err := splitHostPort(strings.TrimPrefix(v, "tcp:"))
	return v, err
}

func checkOpenFlowAdvertise(v string) (string, error) {
	t, err := ovsdb.ControllerTarget(v)
	if err != nil {
		// When the HOST:PORT part does not even parse, say so plainly.
		hp := v
		if scheme, rest, ok := strings.Cut(v, ":"); ok && (scheme == "tcp" || scheme == "ssl") {
			hp = rest
		}
		if _, _, perr := splitHostPort(hp); perr != nil {
			return v, perr
		}
		return v, err
	}
	_, hostPort, _ := strings.Cut(t, ":")
	if _, _, err := splitHostPort(hostPort); err != nil {
		return v, err
	}
	return v, nil
}

// checkBaseURL accepts an http(s) base URL with a host and no path (a
// trailing slash is dropped), query or credentials.
func checkBaseURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return v, errors.New("not an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return v, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return v, fmt.Errorf("port %q is not a number 1-65535", p)
		}
	}
	if !validHost(u.Hostname()) {
		return v, fmt.Errorf("host %q is neither an IP address nor a DNS name", u.Hostname())
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return v, errors.New("must be a base URL: no path, query, fragment or credentials")
	}
	return strings.TrimRight(v, "/"), nil
}

func checkJoin(v string) (string, error) {
	var out []string
	for _, j := range strings.Split(v, ",") {
		j = strings.TrimSpace(j)
		if j == "" {
			continue
		}
		n, err := checkBaseURL(j)
		if !strings.Contains(j, "://") {
			n, err = checkRaft(j) // a member's cluster address
		}
		if err != nil && j != strings.TrimSpace(v) {
			return v, fmt.Errorf("%q: %v", j, err)
		}
		if err != nil {
			return v, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return v, errors.New("no URL")
	}
	return strings.Join(out, ","), nil
}

func checkLogFormat(v string) (string, error) {
	switch v {
	case "text", "json":
		return v, nil
	}
	return v, errors.New("unknown log format")
}

func checkLogLevel(v string) (string, error) {
	if _, err := ParseLevel(v); err != nil {
		return v, errors.New("unknown log level")
	}
	return v, nil
}

func checkJoinToken(v string) (string, error) {
	if len(v) < 16 || strings.ContainsAny(v, " \t\r\n") {
		return v, errors.New("too short or contains white space")
	}
	return v, nil
}

// checkDebugAddr: empty is off; a bare :PORT binds 127.0.0.1, so profiling
// reaches the network only when a host says so explicitly.
func checkDebugAddr(v string) (string, error) {
	if v == "" {
		return v, nil
	}
	h, _, err := splitHostPort(v)
	if err != nil {
		return v, err
	}
	if h == "" {
		return "127.0.0.1" + v, nil
	}
	return v, nil
}

// loopback reports whether h names this machine only.
func loopback(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// checkMaxConns accepts a positive number of connections.
func checkMaxConns(v string) (string, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return v, errors.New("not a positive number")
	}
	return strconv.Itoa(n), nil
}

// checkOVSDBAllow parses the OVSDB endpoint policy.
func checkOVSDBAllow(v string) (string, error) {
	if _, err := model.ParseOVSDBPolicy(v); err != nil {
		return v, err
	}
	return v, nil
}

// MaxConns is api-max-conns as a number (a completed Settings holds a
// valid one; DefaultMaxConns otherwise).
func (s *Settings) MaxConns() int {
	if n, err := strconv.Atoi(s.APIMaxConns); err == nil && n > 0 {
		return n
	}
	return web.DefaultMaxConns
}

// OVSDBPolicy is ovsdb-allow parsed (a completed Settings holds a valid
// one; the default policy otherwise, never a wider one).
func (s *Settings) OVSDBPolicy() *model.OVSDBPolicy {
	if p, err := model.ParseOVSDBPolicy(s.OVSDBAllow); err == nil {
		return p
	}
	return model.MustOVSDBPolicy(model.DefaultOVSDBAllow)
}

// checkCounterInterval accepts 0 (off) or a duration of at least 1s.
func checkCounterInterval(v string) (string, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return v, errors.New("not a duration")
	case d < 0 || (d > 0 && d < time.Second):
		return v, errors.New("must be 0 (off) or at least 1s")
	}
	return d.String(), nil
}

// CounterPollInterval is the parsed --counter-interval (0: off;
// DefaultCounterInterval when empty); call it on completed settings.
func (s Settings) CounterPollInterval() time.Duration {
	v := s.CounterInterval
	if v == "" {
		v = DefaultCounterInterval
	}
	d, _ := time.ParseDuration(v)
	return d
}

// checkAuditInterval accepts 0 or off (no periodic audits) or a duration
// of at least 1s.
func checkAuditInterval(v string) (string, error) {
	if v == "off" {
		return "0s", nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return v, errors.New("not a duration, nor off")
	case d < 0 || (d > 0 && d < time.Second):
		return v, errors.New("must be 0 or off, or at least 1s")
	}
	return d.String(), nil
}

// AuditPeriod is the parsed --audit-interval as ofctl.Config.AuditInterval
// takes it: negative when audits are off (0 or off),
// DefaultAuditInterval when empty; call it on completed settings.
func (s Settings) AuditPeriod() time.Duration {
	v := s.AuditInterval
	if v == "" {
		v = DefaultAuditInterval
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return -1
}
