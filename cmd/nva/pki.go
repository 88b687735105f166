package main

// nva pki: a lab certificate authority for a TLS cluster. `nva pki init`
// makes the CA, `nva pki issue` a node certificate (server and client
// authentication, the SANs given by --host) that --tls-cert/--tls-key use,
// with the CA as --tls-ca. For labs and tests; production clusters may use
// any CA whose node certificates carry both usages.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

func runPKI(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "Usage:\n  nva pki init  --dir DIR [--days N]\n  nva pki issue --dir DIR --name NAME --host H1,H2,... [--days N]\n\n"+
			"init makes a lab CA (DIR/%s, DIR/%s); issue makes DIR/NAME.crt and DIR/NAME.key, a node certificate\n"+
			"for server and client authentication valid for the hosts (IP addresses or DNS names) given.\n"+
			"Start each node with --tls-cert DIR/NAME.crt --tls-key DIR/NAME.key --tls-ca DIR/%s.\n", caCertFile, caKeyFile, caCertFile)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	fs := flag.NewFlagSet("nva pki "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the CA and the certificates")
	days := fs.Int("days", 365, "validity in days")
	name := fs.String("name", "", "issue: node name (the certificate's common name and file names)")
	hosts := fs.String("host", "", "issue: comma-separated IP addresses and DNS names the node is reached at")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *dir == "" || *days < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "nva pki: --dir is required, --days must be positive, no arguments")
		return 2
	}
	var err error
	switch args[0] {
	case "init":
		err = pkiInit(*dir, *days)
		if err == nil {
			fmt.Fprintf(stdout, "CA written to %s and %s\n", filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile))
		}
	case "issue":
		if *name == "" || *hosts == "" {
			fmt.Fprintln(stderr, "nva pki issue: --name and --host are required")
			return 2
		}
		var crt, key string
		crt, key, err = pkiIssue(*dir, *name, strings.Split(*hosts, ","), *days)
		if err == nil {
			fmt.Fprintf(stdout, "node certificate written to %s and %s\n", crt, key)
		}
	default:
		usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "nva pki %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// pkiInit makes a self-signed ECDSA P-256 CA in dir; it refuses to
// overwrite one.
func pkiInit(dir string, days int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, caKeyFile)); err == nil {
		return fmt.Errorf("%s exists: a CA is already there", filepath.Join(dir, caKeyFile))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "nva lab CA", Organization: []string{"nva"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(0, 0, days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writePair(dir, "ca", der, key)
}

// pkiIssue signs a node certificate for name with the CA in dir.
func pkiIssue(dir, name string, hosts []string, days int) (crtPath, keyPath string, err error) {
	if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || name == "ca" {
		return "", "", fmt.Errorf("--name %q: not usable as a file name", name)
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"nva"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(0, 0, days),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// A node certificate: it serves (raft, member API, REST) and it
		// dials the other members as a client.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case net.ParseIP(h) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(h))
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.IPAddresses)+len(tmpl.DNSNames) == 0 {
		return "", "", errors.New("--host names no address")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	if err := writePair(dir, name, der, key); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("no CA (run nva pki init --dir %s): %w", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s: not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// writePair writes NAME.crt (0644) and NAME.key (0600), never over an
// existing key.
func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	kf, err := os.OpenFile(filepath.Join(dir, name+".key"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(kf, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}); err != nil {
		kf.Close()
		return err
	}
	if err := kf.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err)
	}
	return n
}
