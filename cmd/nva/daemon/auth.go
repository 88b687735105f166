package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
	"github.com/nva-project/nva/web"
)

// The REST API's authentication settings (--auth, --allowed-origins,
// --api-hostnames, --token-file) and the bootstrap admin token.

const (
	formsOrigins   = "comma-separated origins, each http(s)://HOST[:PORT] without a path"
	formsHostnames = "comma-separated host names or IP addresses (no ports)"
	formsTokenFile = "a path to a file holding one nva_... token"
)

// BootstrapTokenFile is where the node that creates a cluster's first
// admin token writes it, in the data directory (mode 0600).
const BootstrapTokenFile = "admin.token"

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkOrigins(v string) (string, error) {
	var out []string
	for _, o := range splitList(v) {
		n, err := web.NormalizeOrigin(o)
		if err != nil {
			return v, fmt.Errorf("%q: %v", o, err)
		}
		out = append(out, n)
	}
	return strings.Join(out, ","), nil
}

func checkHostnames(v string) (string, error) {
	var out []string
	for _, h := range splitList(v) {
		h = strings.Trim(h, "[]")
		if !validHost(h) {
			return v, fmt.Errorf("%q is neither an IP address nor a DNS name", h)
		}
		out = append(out, strings.ToLower(h))
	}
	return strings.Join(out, ","), nil
}

// completeAuth validates the auth settings; bad reports a bad one.
func (s *Settings) completeAuth(origin map[string]string, bad func(name, value, reason string)) {
	if v, err := checkOrigins(s.AllowedOrigins); err != nil {
		bad("allowed-origins", s.AllowedOrigins, err.Error())
	} else {
		s.AllowedOrigins = v
	}
	if v, err := checkHostnames(s.APIHostnames); err != nil {
		bad("api-hostnames", s.APIHostnames, err.Error())
	} else {
		s.APIHostnames = v
	}
	if origin["auth"] != "" && !s.Auth && !s.apiLoopback() {
		bad("auth", "false", fmt.Sprintf("the REST API on --api-addr %s is reachable from the network: it always requires tokens", s.APIAddr))
	}
	if s.TokenFile != "" && strings.TrimSpace(s.TokenFile) == "" {
		bad("token-file", s.TokenFile, "empty path")
	}
}

// apiLoopback reports whether the REST API listens on loopback only.
func (s *Settings) apiLoopback() bool {
	h, _, err := net.SplitHostPort(s.APIAddr)
	return err == nil && loopback(h)
}

// AuthEnforced reports whether the REST API requires tokens: always on
// a non-loopback address, on loopback with --auth.
func (s *Settings) AuthEnforced() bool { return s.Auth || !s.apiLoopback() }

// Hostnames are the Host header names the API answers to: --api-hostnames,
// or the api-addr host, localhost, 127.0.0.1, ::1 and the advertised
// host.
func (s *Settings) Hostnames() []string {
	if s.APIHostnames != "" {
		return splitList(s.APIHostnames)
	}
	out := []string{"localhost", "127.0.0.1", "::1"}
	add := func(h string) {
		if h = strings.ToLower(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if h, _, err := net.SplitHostPort(s.APIAddr); err == nil && !unspecified(h) {
		add(h)
	}
	if u, err := url.Parse(s.APIAdvertise); err == nil {
		add(u.Hostname())
	}
	return out
}

// authOptions configures the REST server's authentication.
func (d *Daemon) authOptions() web.AuthOptions {
	return web.AuthOptions{Enforce: d.cfg.AuthEnforced(), Tokens: d.st, Hostnames: d.cfg.Hostnames(),
		AllowedOrigins: splitList(d.cfg.AllowedOrigins)}
}

// readTokenFile reads --token-file.
func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &SettingError{Name: "token-file", Value: path, Reason: err.Error(), Forms: formsTokenFile}
	}
	tok := strings.TrimSpace(string(b))
	if _, _, ok := model.ParseToken(tok); !ok {
		return "", &SettingError{Name: "token-file", Value: path, Reason: "the file does not hold an nva_<id>_<secret> token", Forms: formsTokenFile}
	}
	return tok, nil
}

// writeSecretFile writes data to path with mode 0600, atomically.
func writeSecretFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// tokenBootstrapper is what bootstrapping the admin token needs of the
// store.
type tokenBootstrapper interface {
	// LeaderReady: this node leads and its state holds every committed
	// entry (a leader that has just been elected may still replay its
	// log, and would not see that the cluster has its token).
	LeaderReady(ctx context.Context) (term uint64, ready bool, err error)
	TokensBootstrapped() bool
	Token(id string) (*model.Token, bool)
	BootstrapToken(ctx context.Context, reqID string, t model.Token) error
}

// bootstrapAdminToken creates the cluster's first admin token once this
// node leads a cluster that has none yet (a new cluster's bootstrapping
// node; on an older cluster its leader) and writes it to
// <data-dir>/admin.token (mode 0600). The token is written first to
// admin.token.new, proposed (retried with the same token and request ID,
// so a committed attempt whose answer was lost counts), and renamed to
// admin.token once stored: admin.token always holds a valid token, and a
// crash at any point leaves a pending file that the next start finishes
// (stored: renamed; not stored and the cluster bootstrapped otherwise:
// removed; neither: proposed again). It returns when the cluster has its
// bootstrap token, or ctx ends. The secret is never logged.
func bootstrapAdminToken(ctx context.Context, st tokenBootstrapper, dir string, now func() time.Time, logf func(msg string, args ...any)) {
	path := filepath.Join(dir, BootstrapTokenFile)
	pending := path + ".new"
	var tok model.Token
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if tok.ID == "" {
			tok = readPendingToken(pending)
		}
		switch _, stored := st.Token(tok.ID); {
		case tok.ID != "" && stored:
			if err := os.Rename(pending, path); err != nil {
				logf("cannot move the bootstrap admin token into place; will retry", "path", path, "err", err)
				break
			}
			logf("created the cluster's bootstrap admin token", "path", path, "token_id", tok.ID)
			return
		case st.TokensBootstrapped():
			// Made by another node (or ours, since revoked): not ours to keep.
			if tok.ID != "" {
				os.Remove(pending)
			}
			return
		}
		if _, ready, _ := st.LeaderReady(ctx); ready {
			if tok.ID == "" {
				t, bearer, err := web.NewToken("bootstrap", model.RoleAdmin, "", func() model.Token { return model.Token{Created: now()} })
				if err == nil {
					err = writeSecretFile(pending, []byte(bearer+"\n"))
				}
				if err != nil {
					logf("cannot write the bootstrap admin token; will retry", "path", pending, "err", err)
				} else {
					tok = t
				}
			}
			if tok.ID != "" {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := st.BootstrapToken(cctx, "bootstrap-token-"+tok.ID, tok)
				cancel()
				// Stored or refused: the next round sees which in the state.
				var me *model.Error
				if err != nil && !(errors.As(err, &me) && me.Kind == model.KindConflict) {
					logf("bootstrap admin token not stored yet; will retry", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readPendingToken reads a pending bootstrap token file: the stored form
// of the token it holds (zero if none or unreadable).
func readPendingToken(path string) model.Token {
	b, err := os.ReadFile(path)
	if err != nil {
		return model.Token{}
	}
	id, secret, ok := model.ParseToken(strings.TrimSpace(string(b)))
	if !ok {
		return model.Token{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return model.Token{}
	}
	return model.Token{ID: id, Name: "bootstrap", Role: model.RoleAdmin, Created: fi.ModTime(), Hash: model.HashSecret(secret)}
}

var _ tokenBootstrapper = (*store.Store)(nil)

// authorizeRequest adds --token-file's token to a request to a member.
func (d *Daemon) authorizeRequest(req *http.Request) {
	if d.apiToken != "" {
		req.Header.Set("Authorization", "Bearer "+d.apiToken)
	}
}

// startTokenBootstrap runs bootstrapAdminToken in the background (not for
// an in-memory node, which has no data directory), and says whether the
// API requires tokens.
func (d *Daemon) startTokenBootstrap(ctx context.Context) {
	d.log.Info("REST API authentication", "tokens_required", d.cfg.AuthEnforced(), "hostnames", strings.Join(d.cfg.Hostnames(), ","))
	if d.cfg.InMemory {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		bootstrapAdminToken(ctx, d.st, d.cfg.DataDir, time.Now, func(msg string, args ...any) { d.log.Info(msg, args...) })
	}()
}
