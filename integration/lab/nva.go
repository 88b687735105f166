package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BuildNVA builds cmd/nva of the module that contains the working
// directory into dir and returns the binary's path.
func BuildNVA(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "nva")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nva-project/nva/cmd/nva")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building nva: %w: %s", err, out)
	}
	return bin, nil
}

// NVAOptions configures an nva process in a lab.
type NVAOptions struct {
	// Bin is the nva binary (see BuildNVA).
	Bin string
	// APIAddr is the REST listen address; empty picks a free port on
	// 127.0.0.1. It stays the same across restarts.
	APIAddr string
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// LogLevel is nva's --log-level (default "debug").
	LogLevel string
	// TLS, when set, gives nva a TLS identity: OpenFlow over TLS (the
	// switches are told ssl:ControllerAddr) and OVSDB ssl: endpoints.
	// Without it the lab's OpenFlow listener, on a non-loopback address,
	// is plain TCP and nva runs with --insecure-listen (a lab).
	TLS *NVATLS
}

// NVATLS are nva's TLS files (PEM): its certificate and key, the CA that
// signs it (which the switches' SSL ca_cert must name), and the CA of the
// switches' certificates (--switch-ca; empty: CA).
type NVATLS struct {
	Cert, Key, CA, SwitchCA string
}

// args are the nva flags of the TLS identity and the OpenFlow target.
func (o *NVATLS) args(l *Lab) []string {
	if o == nil {
		return []string{
			// The ovs-vsctl set-controller form operators write; nva
			// hands it to the bridges as is (the e2e tests check the
			// target).
			"--openflow-advertise", l.ControllerTarget(),
			"--insecure-listen",
		}
	}
	a := []string{"--tls-cert", o.Cert, "--tls-key", o.Key, "--tls-ca", o.CA,
		"--openflow-advertise", "ssl:" + l.ControllerAddr()}
	if o.SwitchCA != "" {
		a = append(a, "--switch-ca", o.SwitchCA)
	}
	return a
}

// NVA is a single-node nva daemon started by a lab: OpenFlow on the lab's
// ControllerAddr (which the hypervisors reach over their management
// veths), REST API and Raft on loopback, data under the lab directory.
type NVA struct {
	l       *Lab
	opts    NVAOptions
	DataDir string
	APIAddr string
	Raft    string
	Client  *Client
	proc    *Proc
}

// StartNVA starts nva and waits until its API answers.
func (l *Lab) StartNVA(ctx context.Context, o NVAOptions) (*NVA, error) {
	if o.Bin == "" {
		return nil, errors.New("lab: NVAOptions.Bin is required")
	}
	if o.LogLevel == "" {
		o.LogLevel = "debug"
	}
	n := &NVA{l: l, opts: o, DataDir: filepath.Join(l.Dir, "nva-data")}
	var err error
	n.APIAddr = o.APIAddr
	if n.APIAddr == "" {
		if n.APIAddr, err = freeLoopbackPort(); err != nil {
			return nil, err
		}
	}
	if n.Raft, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
	n.Client = NewClient("http://" + n.APIAddr)
	l.OnDump(n.dumpAPI)
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lab: picking a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start (re)starts the nva process with the same addresses and data
// directory and waits until its API is healthy.
func (n *NVA) Start(ctx context.Context) error {
	if n.proc != nil {
		select {
		case <-n.proc.Done():
		default:
			return errors.New("lab: nva already running")
		}
	}
	args := []string{
		"--node-id", "nva1",
		"--data-dir", n.DataDir,
		"--api-addr", n.APIAddr,
		"--raft-addr", n.Raft,
		"--openflow-addr", n.l.ControllerAddr(),
		"--log-level", n.opts.LogLevel,
	}
	args = append(args, n.opts.TLS.args(n.l)...)
	args = append(args, n.opts.ExtraArgs...)
	p, err := n.l.Spawn("nva", exec.Command(n.opts.Bin, args...))
	if err != nil {
		return err
	}
	n.proc = p
	err = WaitFor(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("nva exited: %v (log %s)", p.Err(), p.Log)
		default:
		}
		var h map[string]any
		st, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/health", nil, &h)
		return err == nil && st == http.StatusOK, err
	})
	if err != nil {
		return fmt.Errorf("lab: nva did not become healthy: %w\n%s", err, tail(p.Log, 30))
	}
	return nil
}

// Stop stops nva gracefully (SIGTERM).
func (n *NVA) Stop() error {
	if n.proc == nil {
		return nil
	}
	return n.proc.Stop(15 * time.Second)
}

// Kill kills nva (SIGKILL), as a crash would.
func (n *NVA) Kill() {
	if n.proc != nil {
		n.proc.Kill()
	}
}

// Proc is the current nva process.
func (n *NVA) Proc() *Proc { return n.proc }

// LogTail returns the last lines of nva's log.
func (n *NVA) LogTail(lines int) string {
	if n.proc == nil {
		return ""
	}
	return tail(n.proc.Log, lines)
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// dumpAPI writes nva's own view (topology, NVEs, per-NVE flows) into a
// failure-artifact directory.
func (n *NVA) dumpAPI(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	save := func(name, path string) {
		var v any
		st, err := n.Client.Do(ctx, http.MethodGet, path, nil, &v)
		var b []byte
		if err != nil {
			b = []byte(fmt.Sprintf("GET %s: status %d: %v\n", path, st, err))
		} else {
			b, _ = json.MarshalIndent(v, "", "  ")
		}
		_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	save("nva-topology.json", "/api/v1/topology")
	save("nva-nves.json", "/api/v1/nves")
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if _, err := n.Client.Do(ctx, http.MethodGet, "/api/v1/nves", nil, &list); err == nil {
		for _, it := range list.Items {
			save("nva-flows-"+it.Name+".json", "/api/v1/nves/"+it.Name+"/flows")
		}
	}
}

// Client is a minimal client of nva's REST API v1.
type Client struct {
	Base string
	HTTP *http.Client
	// Token, when set, is sent as "Authorization: Bearer" (an nva that
	// requires API tokens).
	Token string
}

// NewClient returns a client for the API at base ("http://host:port").
func NewClient(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Method, Path string
	Status       int
	Code         string `json:"code"`
	Message      string `json:"message"`
	Field        string `json:"field"`
	Body         string
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: %d %s: %s (field %q)", e.Method, e.Path, e.Status, e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// Do sends a request with a JSON body (nil for none) and decodes a 2xx
// JSON answer into out (nil to discard). A non-2xx answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
		var env struct {
			Error *APIError `json:"error"`
		}
		if json.Unmarshal(b, &env) == nil && env.Error != nil {
			e.Code, e.Message, e.Field = env.Error.Code, env.Error.Message, env.Error.Field
		}
		return resp.StatusCode, e
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Realized appends ?wait=realized&timeout=<d> to a path.
func Realized(path string, d time.Duration) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%swait=realized&timeout=%s", path, sep, d)
}
