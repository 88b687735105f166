package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

const defaultServer = "http://127.0.0.1:8080"

// globals are the persistent flags.
type globals struct {
	server       string
	output       string
	timeout      time.Duration
	waitRealized bool
	waitTimeout  time.Duration
	consistent   bool
	token        string // --token / NVA_TOKEN
	caCert       string // --ca-cert / NVA_CACERT (NVA_CA_CERT also read)
}

type app struct {
	g   globals
	tls *tls.Config // from --ca-cert
}

func newRootCmd(lookup func(string) (string, bool)) *cobra.Command {
	a := &app{}
	server := defaultServer
	if v, ok := lookup("NVA_SERVER"); ok && v != "" {
		server = v
	}
	token, _ := lookup("NVA_TOKEN")
	caCert, _ := lookup("NVA_CACERT")
	if caCert == "" {
		caCert, _ = lookup("NVA_CA_CERT")
	}
	root := &cobra.Command{
		Use:           "nvactl",
		Short:         "Command-line client of the nva network virtualization authority",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch a.g.output {
			case "table", "json":
			default:
				return fmt.Errorf("--output must be table or json, not %q", a.g.output)
			}
			u, err := url.Parse(a.g.server)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("--server %q must be an http:// or https:// URL", a.g.server)
			}
			a.g.server = strings.TrimRight(a.g.server, "/")
			a.g.token = strings.TrimSpace(a.g.token)
			a.tls, err = tlsConfig(a.g.caCert)
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.g.server, "server", server, "nva REST API base URL (env NVA_SERVER)")
	pf.StringVarP(&a.g.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.g.timeout, "http-timeout", 30*time.Second, "timeout of each HTTP request")
	pf.BoolVar(&a.g.waitRealized, "wait-realized", false, "on writes, wait until every NVE has installed the change")
	pf.DurationVar(&a.g.waitTimeout, "wait-timeout", 10*time.Second, "how long --wait-realized waits")
	pf.BoolVar(&a.g.consistent, "consistent", false, "on reads, read through the leader (linearizable)")
	pf.StringVar(&a.g.token, "token", token, "API token (nva_...) sent as a bearer token (env NVA_TOKEN)")
	pf.StringVar(&a.g.caCert, "ca-cert", caCert, "PEM file of the CA that signed an https:// server's certificate (env NVA_CACERT)")

	nve := a.resourceCmd(nveKind)
	nve.AddCommand(a.flowsCmd())
	cluster := a.clusterCmd()
	cluster.AddCommand(a.healthCmd())
	root.AddCommand(a.resourceCmd(vnKind), nve, a.resourceCmd(portKind), cluster, a.topologyCmd(), a.applyCmd(), a.tokenCmd(), a.snapshotCmd(), a.traceCmd(), a.countersCmd())
	root.AddCommand(a.accessLinksCmd())         // accesslink.go
	root.AddCommand(a.resourceCmd(policyKind))  // policy.go
	root.AddCommand(a.learnedCmd())             // learned.go
	root.AddCommand(a.resourceCmd(gatewayKind)) // gateway.go
	return root
}

func (a *app) client() *client {
	hc := &http.Client{Timeout: a.g.timeout + a.g.waitTimeout}
	if a.tls != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = a.tls
		hc.Transport = tr
	}
	return &client{base: a.g.server, http: hc, sleep: sleepCtx, token: a.g.token}
}

func (a *app) readQuery() url.Values {
	q := url.Values{}
	if a.g.consistent {
		q.Set("consistent", "true")
	}
	return q
}

func (a *app) writeQuery() url.Values {
	q := url.Values{}
	if a.g.waitRealized {
		q.Set("wait", "realized")
		q.Set("timeout", a.g.waitTimeout.String())
	}
	return q
}

// printJSON re-indents a response body.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printTable writes rows under a header, aligned.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i, c := range r {
			if c == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
