package daemon

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web"
)

// Defaults of the embedded single-node daemon.
const (
	DefaultNodeID       = "nva1"
	DefaultDataDir      = "./nva-data"
	DefaultAPIAddr      = "127.0.0.1:8080"
	DefaultRaftAddr     = "127.0.0.1:8300"
	DefaultOpenFlowAddr = "127.0.0.1:6653"
	DefaultLogFormat    = "text"
	DefaultLogLevel     = "info"
)

// Settings are the daemon's configurable settings: what a flag, an NVA_*
// environment variable or the YAML config file can set.
type Settings struct {
	NodeID            string `yaml:"node-id"`
	DataDir           string `yaml:"data-dir"`
	APIAddr           string `yaml:"api-addr"`
	APIAdvertise      string `yaml:"api-advertise"`
	RaftAddr          string `yaml:"raft-addr"`
	OpenFlowAddr      string `yaml:"openflow-addr"`
	OpenFlowAdvertise string `yaml:"openflow-advertise"`
	Bootstrap         bool   `yaml:"bootstrap"`
	Join              string `yaml:"join"`
	LogFormat         string `yaml:"log-format"`
	LogLevel          string `yaml:"log-level"`
	DebugAddr         string `yaml:"debug-addr"`

	// TLS identity of this node (tls.go): its certificate and key, and the
	// cluster CA that signs every member's certificate.
	TLSCert string `yaml:"tls-cert"`
	TLSKey  string `yaml:"tls-key"`
	TLSCA   string `yaml:"tls-ca"`

	// Switch TLS and the listener policy (switchtls.go): the CA of the
	// switches' certificates, and the opt-out that lets a listener bind a
	// non-loopback address without TLS.
	SwitchCA       string `yaml:"switch-ca"`
	InsecureListen bool   `yaml:"insecure-listen"`

	// API authentication and cross-site protection (auth.go).
	Auth           bool   `yaml:"auth"`
	AllowedOrigins string `yaml:"allowed-origins"`
	APIHostnames   string `yaml:"api-hostnames"`
	TokenFile      string `yaml:"token-file"`
	// Cluster security (cluster.go).
	JoinToken       string `yaml:"join-token"`
	InsecureCluster bool   `yaml:"insecure-cluster"`

	// REST hardening and the OVSDB endpoint policy (sec-rest).
	APIMaxConns string `yaml:"api-max-conns"`
	OVSDBAllow  string `yaml:"ovsdb-allow"`

	// OAM (ofctl/counters.go): how often traffic counters are read.
	CounterInterval string `yaml:"counter-interval"`

	// L2 gateways (learned.go): how long a learned MAC lives unseen.
	LearnedAge string `yaml:"learned-age"`

	// Southbound audits (rest-cpu, ofctl/southbound.go): how often the
	// leader re-reads every switch to find drift.
	AuditInterval string `yaml:"audit-interval"`

	// Process memory (memlimit.go): the Go runtime's soft memory limit.
	MemoryLimit string `yaml:"memory-limit"`
}

// DefaultSettings returns the embedded default.
func DefaultSettings() Settings {
	return Settings{
		NodeID: DefaultNodeID, DataDir: DefaultDataDir, APIAddr: DefaultAPIAddr,
		RaftAddr: DefaultRaftAddr, OpenFlowAddr: DefaultOpenFlowAddr,
		LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
		APIMaxConns: strconv.Itoa(web.DefaultMaxConns), OVSDBAllow: model.DefaultOVSDBAllow,
	}
}

// setting binds one flag, its environment variable and its YAML key to a
// field of Settings, with the forms it accepts (see validate.go).
type setting struct {
	name  string // flag name and YAML key
	usage string
	forms string // the accepted forms, quoted by every error about it
	str   func(*Settings) *string
	boo   func(*Settings) *bool
}

func (st setting) env() string { return envName(st.name) }

func envName(name string) string {
	return "NVA_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

var settingList = []setting{
	{name: "node-id", usage: "unique ID of this node in the cluster", forms: formsNodeID,
		str: func(s *Settings) *string { return &s.NodeID }},
	{name: "data-dir", usage: "directory for the Raft log, snapshots and state", forms: formsDataDir,
		str: func(s *Settings) *string { return &s.DataDir }},
	{name: "api-addr", usage: "REST API listen address (HOST:PORT or :PORT)", forms: formsListen,
		str: func(s *Settings) *string { return &s.APIAddr }},
	{name: "api-advertise", usage: "REST API base URL the other members and clients use (default http://<api-addr>)", forms: formsURL,
		str: func(s *Settings) *string { return &s.APIAdvertise }},
	{name: "raft-addr", usage: "Raft listen and advertised address (HOST:PORT the other members can dial)", forms: formsRaft,
		str: func(s *Settings) *string { return &s.RaftAddr }},
	{name: "openflow-addr", usage: "OpenFlow listen address for the switches (HOST:PORT, :PORT, tcp:HOST:PORT or unix:PATH)", forms: formsOpenFlowListen,
		str: func(s *Settings) *string { return &s.OpenFlowAddr }},
	{name: "openflow-advertise", usage: "OpenFlow address the switches are told to connect to: HOST:PORT, or an ovs-vsctl set-controller target tcp:HOST:PORT or ssl:HOST:PORT (default: openflow-addr, with the API host when its host is empty or unspecified)", forms: formsOpenFlowAdvertise,
		str: func(s *Settings) *string { return &s.OpenFlowAdvertise }},
	{name: "bootstrap", usage: "bootstrap a new cluster with this node as its only voter", forms: "true or false",
		boo: func(s *Settings) *bool { return &s.Bootstrap }},
	{name: "join", usage: "join the cluster through a member: its cluster address HOST:PORT (its --raft-addr), or its REST API URL (comma-separated list allowed)", forms: formsJoin,
		str: func(s *Settings) *string { return &s.Join }},
	{name: "log-format", usage: "log format: text or json", forms: formsLogFormat,
		str: func(s *Settings) *string { return &s.LogFormat }},
	{name: "log-level", usage: "log level: debug, info, warn or error", forms: formsLogLevel,
		str: func(s *Settings) *string { return &s.LogLevel }},
	{name: "debug-addr", usage: "serve net/http/pprof on this address (off when empty; :PORT binds 127.0.0.1; a non-loopback HOST:PORT exposes profiling to the network)", forms: formsDebug,
		str: func(s *Settings) *string { return &s.DebugAddr }},

	// TLS identity (tls.go).
	{name: "tls-cert", usage: "PEM certificate of this node (server and client), signed by --tls-ca; with --tls-key and --tls-ca it turns on TLS", forms: formsPEMFile,
		str: func(s *Settings) *string { return &s.TLSCert }},
	{name: "tls-key", usage: "PEM private key of --tls-cert", forms: formsPEMFile,
		str: func(s *Settings) *string { return &s.TLSKey }},
	{name: "tls-ca", usage: "PEM bundle of the cluster CA: every member's certificate must be signed by it", forms: formsPEMFile,
		str: func(s *Settings) *string { return &s.TLSCA }},

	// Switch TLS and the listener policy (switchtls.go).
	{name: "switch-ca", usage: "PEM bundle of the CA that signs the switches' certificates (e.g. ovs-pki's switchca/cacert.pem): with TLS on, every OpenFlow switch and OVSDB ssl: server must present one (default --tls-ca)", forms: formsSwitchCA,
		str: func(s *Settings) *string { return &s.SwitchCA }},
	{name: "insecure-listen", usage: "allow --api-addr, --raft-addr and --openflow-addr to bind non-loopback addresses without TLS (labs only; logged loudly)", forms: "true or false",
		boo: func(s *Settings) *bool { return &s.InsecureListen }},

	// API authentication and cross-site protection (auth.go).
	{name: "auth", usage: "require an API token on the REST API even when it listens on loopback only (always required on any other address)", forms: "true or false",
		boo: func(s *Settings) *bool { return &s.Auth }},
	{name: "allowed-origins", usage: "comma-separated web origins (scheme://host[:port]) besides the API's own that may send requests to it", forms: formsOrigins,
		str: func(s *Settings) *string { return &s.AllowedOrigins }},
	{name: "api-hostnames", usage: "comma-separated names the REST API answers to in the Host header, against DNS rebinding (default: the api-addr host, localhost, 127.0.0.1, ::1 and the api-advertise host)", forms: formsHostnames,
		str: func(s *Settings) *string { return &s.APIHostnames }},
	{name: "token-file", usage: "file holding the API token (role admin) this node presents to the members named by --join, when they require tokens", forms: formsTokenFile,
		str: func(s *Settings) *string { return &s.TokenFile }},
	// Cluster security (cluster.go).
	{name: "join-token", usage: "shared secret of the cluster's member API (joins, forwarding): every member sets the same; required with --insecure-cluster, optional with TLS", forms: formsJoinToken,
		str: func(s *Settings) *string { return &s.JoinToken }},
	{name: "insecure-cluster", usage: "allow a non-loopback --raft-addr without TLS (plain raft: anyone who reaches it can forge raft RPCs); needs --join-token", forms: "true or false",
		boo: func(s *Settings) *bool { return &s.InsecureCluster }},

	// REST hardening and the OVSDB endpoint policy (sec-rest).
	{name: "api-max-conns", usage: "most REST API connections held open at once; more clients wait to be accepted", forms: formsMaxConns,
		str: func(s *Settings) *string { return &s.APIMaxConns }},
	{name: "ovsdb-allow", usage: "OVSDB endpoints an NVE may name (its \"ovsdb\" field); others are refused with 422", forms: model.OVSDBPolicyForms,
		str: func(s *Settings) *string { return &s.OVSDBAllow }},

	// OAM: traffic counters (ofctl/counters.go).
	{name: "counter-interval", usage: "how often the traffic counters (per VN, port, tunnel, drop stage) are read from the connected switches' flow statistics while they are wanted (API reads, /metrics scrapes that include them, events streams; polling stops six intervals, at least 2m, after the last); 0 turns polling off", forms: formsCounterInterval,
		str: func(s *Settings) *string { return &s.CounterInterval }},

	// L2 gateways to physical segments (learned.go).
	{name: "learned-age", usage: "how long a MAC learned on an L2 gateway segment (or reported by a VTEP) stays a learned endpoint without being seen again; MACs still sending are re-reported every third of it", forms: formsLearnedAge,
		str: func(s *Settings) *string { return &s.LearnedAge }},

	// Southbound audits (rest-cpu, ofctl/southbound.go).
	{name: "audit-interval", usage: "how often the leader re-reads every connected switch's flows and groups and repairs drift (the audits of one interval are spread evenly over it); 0 or off turns periodic audits off (switches are still read on every change and reconnect)", forms: formsAuditInterval,
		str: func(s *Settings) *string { return &s.AuditInterval }},

	// Process memory (memlimit.go).
	{name: "memory-limit", usage: "soft limit of the Go runtime's memory (the heap collects harder as it nears it, so RSS stays close to the live heap instead of about twice it; at the price of more GC CPU while tables are compiled); off or 0: none (the runtime's default, or GOMEMLIMIT)", forms: formsMemoryLimit,
		str: func(s *Settings) *string { return &s.MemoryLimit }},
}

// DefaultCounterInterval is --counter-interval's default (when empty).
const DefaultCounterInterval = "10s"

// DefaultAuditInterval is --audit-interval's default (when empty): an
// audit of a switch whose report is unchanged costs about 1.5 ms of CPU
// (843 flows and groups; reading the report and hashing it), so 1,000
// switches audited every minute cost about 2.5 % of a core.
const DefaultAuditInterval = "60s"

// settingNamed returns the setting of a flag name.
func settingNamed(name string) (setting, bool) {
	for _, st := range settingList {
		if st.name == name {
			return st, true
		}
	}
	return setting{}, false
}

// ErrHelp is returned by LoadSettings when -h/--help was given; usage has
// been written to the output.
var ErrHelp = flag.ErrHelp

// LoadSettings resolves the daemon's settings from command-line args,
// the environment (lookup, e.g. os.LookupEnv) and the YAML config file named
// by --config or NVA_CONFIG. Precedence: flag > environment > file >
// default. Every value is validated (see Complete); an error names the
// flag, where the bad value came from and the accepted forms. Usage and
// flag-syntax errors are written to out.
func LoadSettings(args []string, lookup func(string) (string, bool), out io.Writer) (Settings, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var fromFlags Settings
	var configPath string
	fs := newFlagSet(out, &fromFlags, &configPath)
	if err := fs.Parse(args); err != nil {
		return Settings{}, err
	}
	if fs.NArg() > 0 {
		return Settings{}, fmt.Errorf("unexpected arguments: %s (nva takes only flags; see nva -h)", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	s := DefaultSettings()
	origin := map[string]string{} // flag name -> where its value came from
	if !set["config"] {
		configPath, _ = lookup("NVA_CONFIG")
	}
	if configPath != "" {
		keys, err := loadFile(configPath, &s)
		if err != nil {
			return Settings{}, err
		}
		for _, k := range keys {
			origin[k] = fmt.Sprintf("key %s in %s", k, configPath)
		}
	}
	if err := applyEnv(&s, lookup, origin); err != nil {
		return Settings{}, err
	}
	for _, st := range settingList {
		if !set[st.name] {
			continue
		}
		origin[st.name] = "the command line"
		if st.boo != nil {
			*st.boo(&s) = *st.boo(&fromFlags)
		} else {
			*st.str(&s) = *st.str(&fromFlags)
		}
	}
	if err := s.complete(origin); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// newFlagSet defines --config and one flag per setting, parsed into
// fromFlags and configPath.
func newFlagSet(out io.Writer, fromFlags *Settings, configPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet("nva", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(configPath, "config", "", "YAML config file (env NVA_CONFIG); keys are the flag names")
	def := DefaultSettings()
	for _, st := range settingList {
		usage := fmt.Sprintf("%s (env %s)", st.usage, st.env())
		if st.boo != nil {
			fs.BoolVar(st.boo(fromFlags), st.name, *st.boo(&def), usage)
		} else {
			fs.StringVar(st.str(fromFlags), st.name, *st.str(&def), usage)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nva [flags]\n\nnva is the network virtualization authority daemon. With no flags it\nbootstraps a single-node cluster in %s and serves the REST API on %s.\n\nFlags:\n", DefaultDataDir, DefaultAPIAddr)
		fs.PrintDefaults()
	}
	return fs
}

// applyEnv sets what the NVA_* variables give and records their origin.
func applyEnv(s *Settings, lookup func(string) (string, bool), origin map[string]string) error {
	var errs []error
	for _, st := range settingList {
		v, ok := lookup(st.env())
		if !ok {
			continue
		}
		origin[st.name] = "environment " + st.env()
		if st.boo == nil {
			*st.str(s) = v
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, &SettingError{Name: st.name, Value: v, Origin: origin[st.name], Reason: "not a boolean", Forms: st.forms})
			continue
		}
		*st.boo(s) = b
	}
	return errors.Join(errs...)
}

var unknownKeyRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type `)

// loadFile reads the YAML config file into s and returns the keys it set.
// Unknown keys are errors: a misspelt key would otherwise be ignored.
func loadFile(path string, s *Settings) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("--config: %s: %w", path, err)
		}
		var errs []error
		for _, e := range te.Errors {
			if m := unknownKeyRE.FindStringSubmatch(e); m != nil {
				errs = append(errs, fmt.Errorf("--config: %s line %s: unknown key %q; the keys are the flag names: %s", path, m[1], m[2], keyNames()))
			} else {
				errs = append(errs, fmt.Errorf("--config: %s: %s", path, e))
			}
		}
		return nil, errors.Join(errs...)
	}
	// The keys it set, for naming the origin of a bad value.
	var keys map[string]yaml.Node
	if err := yaml.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("--config: %s: %w", path, err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	return names, nil
}

func keyNames() string {
	names := make([]string, len(settingList))
	for i, st := range settingList {
		names[i] = st.name
	}
	return strings.Join(names, ", ")
}

// JoinURLs splits Join into member base URLs.
func (s *Settings) JoinURLs() []string {
	var out []string
	for _, j := range strings.Split(s.Join, ",") {
		if j = strings.TrimSpace(j); j != "" {
			out = append(out, strings.TrimRight(j, "/"))
		}
	}
	return out
}

// advertiseHostPort turns a listen address into one others can dial: an
// empty or unspecified host becomes fallbackHost, or this machine's
// hostname when fallbackHost is empty or itself unspecified.
func advertiseHostPort(listen, fallbackHost string) string {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if !unspecified(h) {
		return listen
	}
	if fallbackHost == "" || unspecified(fallbackHost) {
		fallbackHost = "127.0.0.1"
		if hn, err := os.Hostname(); err == nil && hn != "" {
			fallbackHost = hn
		}
	}
	return net.JoinHostPort(fallbackHost, p)
}

func ephemeral(hostport string) bool {
	_, p, err := net.SplitHostPort(hostport)
	return err == nil && (p == "0" || p == "")
}

func unspecified(h string) bool {
	if h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// ParseLevel parses a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level %q must be debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the daemon's logger: text or JSON at the given level.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q must be text or json", format)
}
