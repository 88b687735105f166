package daemon

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults of the embedded single-node daemon.
const (
	DefaultNodeID       = "nva1"
	DefaultDataDir      = "./nva-data"
	DefaultAPIAddr      = "127.0.0.1:8080"
	DefaultRaftAddr     = "127.0.0.1:8300"
	DefaultOpenFlowAddr = ":6653"
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
}

// DefaultSettings returns the embedded default.
func DefaultSettings() Settings {
	return Settings{
		NodeID: DefaultNodeID, DataDir: DefaultDataDir, APIAddr: DefaultAPIAddr,
		RaftAddr: DefaultRaftAddr, OpenFlowAddr: DefaultOpenFlowAddr,
		LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
	}
}

// setting binds one flag, its environment variable and its YAML key to a
// field of Settings.
type setting struct {
	name  string // flag name and YAML key
	usage string
	str   func(*Settings) *string
	boo   func(*Settings) *bool
}

func (st setting) env() string {
	return "NVA_" + strings.ToUpper(strings.ReplaceAll(st.name, "-", "_"))
}

var settingList = []setting{
	{name: "node-id", usage: "unique ID of this node in the cluster", str: func(s *Settings) *string { return &s.NodeID }},
	{name: "data-dir", usage: "directory for the Raft log, snapshots and state", str: func(s *Settings) *string { return &s.DataDir }},
	{name: "api-addr", usage: "REST API listen address (host:port)", str: func(s *Settings) *string { return &s.APIAddr }},
	{name: "api-advertise", usage: "REST API base URL the other members and clients use (default http://<api-addr>)", str: func(s *Settings) *string { return &s.APIAdvertise }},
	{name: "raft-addr", usage: "Raft listen and advertised address (host:port)", str: func(s *Settings) *string { return &s.RaftAddr }},
	{name: "openflow-addr", usage: "OpenFlow listen address for the switches", str: func(s *Settings) *string { return &s.OpenFlowAddr }},
	{name: "openflow-advertise", usage: "OpenFlow address the switches are told to connect to (default: openflow-addr, with the API host when its host is empty or unspecified)", str: func(s *Settings) *string { return &s.OpenFlowAdvertise }},
	{name: "bootstrap", usage: "bootstrap a new cluster with this node as its only voter", boo: func(s *Settings) *bool { return &s.Bootstrap }},
	{name: "join", usage: "join the cluster through a member's REST API (http://host:port; comma-separated list allowed)", str: func(s *Settings) *string { return &s.Join }},
	{name: "log-format", usage: "log format: text or json", str: func(s *Settings) *string { return &s.LogFormat }},
	{name: "log-level", usage: "log level: debug, info, warn or error", str: func(s *Settings) *string { return &s.LogLevel }},
}

// ErrHelp is returned by LoadSettings when -h/--help was given; usage has
// been written to the output.
var ErrHelp = flag.ErrHelp

// LoadSettings resolves the daemon's settings from command-line args,
// the environment (lookup, e.g. os.LookupEnv) and the YAML config file named
// by --config or NVA_CONFIG. Precedence: flag > environment > file >
// default. Usage and flag errors are written to out.
func LoadSettings(args []string, lookup func(string) (string, bool), out io.Writer) (Settings, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var fromFlags Settings
	var configPath string
	fs := flag.NewFlagSet("nva", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&configPath, "config", "", "YAML config file (env NVA_CONFIG); keys are the flag names")
	def := DefaultSettings()
	for _, st := range settingList {
		usage := fmt.Sprintf("%s (env %s)", st.usage, st.env())
		if st.boo != nil {
			fs.BoolVar(st.boo(&fromFlags), st.name, *st.boo(&def), usage)
		} else {
			fs.StringVar(st.str(&fromFlags), st.name, *st.str(&def), usage)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nva [flags]\n\nnva is the network virtualization authority daemon. With no flags it\nbootstraps a single-node cluster in %s and serves the REST API on %s.\n\nFlags:\n", DefaultDataDir, DefaultAPIAddr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Settings{}, err
	}
	if fs.NArg() > 0 {
		return Settings{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	s := def
	if !set["config"] {
		configPath, _ = lookup("NVA_CONFIG")
	}
	if configPath != "" {
		if err := loadFile(configPath, &s); err != nil {
			return Settings{}, err
		}
	}
	for _, st := range settingList {
		v, ok := lookup(st.env())
		if !ok {
			continue
		}
		if st.boo != nil {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Settings{}, fmt.Errorf("environment %s=%q: not a boolean", st.env(), v)
			}
			*st.boo(&s) = b
		} else {
			*st.str(&s) = v
		}
	}
	for _, st := range settingList {
		if !set[st.name] {
			continue
		}
		if st.boo != nil {
			*st.boo(&s) = *st.boo(&fromFlags)
		} else {
			*st.str(&s) = *st.str(&fromFlags)
		}
	}
	if err := s.Complete(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func loadFile(path string, s *Settings) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Complete validates the settings and fills the derived defaults
// (api-advertise, openflow-advertise).
func (s *Settings) Complete() error {
	if s.NodeID == "" {
		return errors.New("node-id must not be empty")
	}
	if s.DataDir == "" {
		return errors.New("data-dir must not be empty")
	}
	if _, _, err := net.SplitHostPort(s.APIAddr); err != nil {
		return fmt.Errorf("api-addr %q: %w", s.APIAddr, err)
	}
	if h, _, err := net.SplitHostPort(s.RaftAddr); err != nil || h == "" {
		return fmt.Errorf("raft-addr %q must be HOST:PORT (the other members dial it)", s.RaftAddr)
	}
	if s.OpenFlowAddr != "" {
		if _, _, err := net.SplitHostPort(s.OpenFlowAddr); err != nil {
			return fmt.Errorf("openflow-addr %q: %w", s.OpenFlowAddr, err)
		}
	}
	// With an ephemeral API port (":0", tests) the advertised URL is
	// derived by Start from the bound listener.
	if s.APIAdvertise == "" && !ephemeral(s.APIAddr) {
		s.APIAdvertise = "http://" + advertiseHostPort(s.APIAddr, "")
	}
	apiHost := ""
	if s.APIAdvertise != "" {
		u, err := url.Parse(s.APIAdvertise)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("api-advertise %q must be an http:// or https:// URL", s.APIAdvertise)
		}
		s.APIAdvertise = strings.TrimRight(s.APIAdvertise, "/")
		apiHost = u.Hostname()
	} else if h, _, err := net.SplitHostPort(s.APIAddr); err == nil {
		apiHost = h
	}
	if s.OpenFlowAdvertise == "" && s.OpenFlowAddr != "" {
		s.OpenFlowAdvertise = advertiseHostPort(s.OpenFlowAddr, apiHost)
	}
	if s.Bootstrap && s.Join != "" {
		return errors.New("bootstrap and join are mutually exclusive")
	}
	for _, j := range s.JoinURLs() {
		ju, err := url.Parse(j)
		if err != nil || (ju.Scheme != "http" && ju.Scheme != "https") || ju.Host == "" {
			return fmt.Errorf("join %q must be an http:// or https:// URL of a member's REST API", j)
		}
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log-format %q must be text or json", s.LogFormat)
	}
	if _, err := ParseLevel(s.LogLevel); err != nil {
		return err
	}
	return nil
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
