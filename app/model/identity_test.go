package model

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCert(t *testing.T, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSwitchIdentityValidate(t *testing.T) {
	base := func() NVE {
		return NVE{Name: "tor1", Kind: NVEOpenFlow, UnderlayIPs: []string{"192.0.2.9"}, DatapathID: "2a"}
	}
	fp := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		name  string
		id    *SwitchIdentity
		field string // "" valid
	}{
		{"none", nil, ""},
		{"fingerprint", &SwitchIdentity{Fingerprint: fp}, ""},
		{"fingerprint with colons, upper case", &SwitchIdentity{Fingerprint: "SHA256:" + strings.TrimSuffix(strings.Repeat("AB:", 32), ":")}, ""},
		{"subject", &SwitchIdentity{Subject: "CN=hv1 id:1234, O=Example\\, Inc"}, ""},
		{"both", &SwitchIdentity{Fingerprint: fp, Subject: "CN=hv1"}, ""},
		{"empty", &SwitchIdentity{}, "switch_identity"},
		{"sha1", &SwitchIdentity{Fingerprint: "sha1:" + strings.Repeat("ab", 20)}, "switch_identity.fingerprint"},
		{"short", &SwitchIdentity{Fingerprint: "sha256:abcd"}, "switch_identity.fingerprint"},
		{"not hex", &SwitchIdentity{Fingerprint: "sha256:" + strings.Repeat("zz", 32)}, "switch_identity.fingerprint"},
		{"subject without =", &SwitchIdentity{Subject: "hv1"}, "switch_identity.subject"},
		{"unknown attribute", &SwitchIdentity{Subject: "CN=hv1,EMAIL=x@example.com"}, "switch_identity.subject"},
		{"empty value", &SwitchIdentity{Subject: "CN="}, "switch_identity.subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := base()
			n.SwitchIdentity = tc.id
			n.Defaults()
			err := n.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pin refused: %v", err)
				}
				if n.SwitchIdentity != nil && n.SwitchIdentity.Fingerprint != "" && n.SwitchIdentity.Fingerprint != fp {
					t.Fatalf("fingerprint not normalized: %s", n.SwitchIdentity.Fingerprint)
				}
				return
			}
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("want a field error on %s, got %v", tc.field, err)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			if len(fields) != 1 || fields[0] != tc.field {
				t.Fatalf("fields %v, want [%s] (%v)", fields, tc.field, err)
			}
		})
	}
	// Defaults leaves the caller's pin as given.
	id := &SwitchIdentity{Fingerprint: strings.ToUpper(fp)}
	n := base()
	n.SwitchIdentity = id
	n.Defaults()
	if id.Fingerprint != strings.ToUpper(fp) || n.SwitchIdentity.Fingerprint != fp {
		t.Fatalf("caller's %q, NVE's %q", id.Fingerprint, n.SwitchIdentity.Fingerprint)
	}
}

func TestSwitchIdentityMatch(t *testing.T) {
	hv1 := testCert(t, pkix.Name{CommonName: "hv1 id:7949be03", Organization: []string{"Example, Inc", "Other"}, OrganizationalUnit: []string{"switch"}})
	other := testCert(t, pkix.Name{CommonName: "hv1 id:7949be03", Organization: []string{"Example, Inc"}})
	if !strings.HasPrefix(CertFingerprint(hv1), "sha256:") || len(CertFingerprint(hv1)) != 7+64 {
		t.Fatalf("fingerprint %s", CertFingerprint(hv1))
	}
	cases := []struct {
		name string
		id   *SwitchIdentity
		cert *x509.Certificate
		ok   bool
		msg  string
	}{
		{"no pin", nil, hv1, true, ""},
		{"no pin, no certificate", nil, nil, true, ""},
		{"pin, no certificate", &SwitchIdentity{Subject: "CN=hv1"}, nil, false, "presented none"},
		{"fingerprint", &SwitchIdentity{Fingerprint: CertFingerprint(hv1)}, hv1, true, ""},
		{"same subject, other key", &SwitchIdentity{Fingerprint: CertFingerprint(hv1)}, other, false, "is not the pinned"},
		{"subject CN", &SwitchIdentity{Subject: "CN=hv1 id:7949be03"}, hv1, true, ""},
		{"subject CN and O with comma", &SwitchIdentity{Subject: `cn=hv1 id:7949be03,O=Example\, Inc`}, hv1, true, ""},
		{"second O value", &SwitchIdentity{Subject: "O=Other"}, hv1, true, ""},
		{"OU missing", &SwitchIdentity{Subject: "CN=hv1 id:7949be03,OU=switch"}, other, false, "does not have OU=switch"},
		{"CN differs", &SwitchIdentity{Subject: "CN=hv2"}, hv1, false, "does not have CN=hv2"},
		{"both, subject differs", &SwitchIdentity{Fingerprint: CertFingerprint(hv1), Subject: "CN=hv2"}, hv1, false, "CN=hv2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.id.Match(tc.cert)
			if tc.ok != (err == nil) {
				t.Fatalf("Match = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Match = %v, want it to say %q", err, tc.msg)
			}
		})
	}
}
