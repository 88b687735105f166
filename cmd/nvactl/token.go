package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
	"github.com/spf13/cobra"
)

// tokenCmd manages API tokens (admin only): create shows the secret once.
func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (admin only)"}

	var req wire.TokenRequest
	var role string
	create := &cobra.Command{
		Use:   "create --role admin|operator|tenant|reader [--tenant T] [--name N]",
		Short: "Create a token; its secret is shown once, here",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			req.Role = model.Role(role)
			if !req.Role.Valid() {
				return fmt.Errorf("--role must be admin, operator, tenant or reader, not %q", role)
			}
			if (req.Role == model.RoleTenant) != (req.Tenant != "") {
				return fmt.Errorf("--tenant is required with --role tenant, and only with it")
			}
			raw, err := a.client().do(c.Context(), http.MethodPost, "/api/v1/tokens", nil, req)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var t wire.Token
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("decoding token: %w", err)
			}
			scope := string(t.Role)
			if t.Tenant != "" {
				scope += " of tenant " + t.Tenant
			}
			fmt.Fprintf(c.OutOrStdout(), "token %s (%s) created; its secret is shown only now:\n%s\n", t.ID, scope, t.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, operator, tenant or reader (required)")
	create.Flags().StringVar(&req.Tenant, "tenant", "", "the tenant of a tenant token")
	create.Flags().StringVar(&req.Name, "name", "", "a description")
	_ = create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/tokens", nil, nil)
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), raw)
			}
			var l wire.TokenList
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("decoding tokens: %w", err)
			}
			rows := make([][]string, 0, len(l.Items))
			for _, t := range l.Items {
				rows = append(rows, []string{t.ID, t.Name, string(t.Role), t.Tenant, t.Created.UTC().Format(time.RFC3339)})
			}
			return printTable(c.OutOrStdout(), []string{"ID", "NAME", "ROLE", "TENANT", "CREATED"}, rows)
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: it is refused from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := a.client().do(c.Context(), http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if a.g.output == "json" {
				return printJSON(c.OutOrStdout(), []byte(fmt.Sprintf(`{"revoked":%q}`, args[0])))
			}
			fmt.Fprintf(c.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// tlsConfig is the TLS configuration of --ca-cert (nil: the system's
// roots).
func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in the file", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
