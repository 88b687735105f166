package model

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SwitchIdentity pins the TLS certificate the switch of an NVE must
// present, on OpenFlow and on OVSDB (RFC 8014 §14: the NVA authenticates
// the NVEs it controls). A switch whose certificate does not match stays
// unclaimed and is reported (UnclaimedSwitch.Reason). With both fields set
// both must match. The certificate must also verify against the switch CA
// (nva's --switch-ca); the pin narrows which of that CA's certificates may
// claim this NVE.
type SwitchIdentity struct {
	// Fingerprint is the SHA-256 of the certificate (DER), written
	// "sha256:" and 64 hex digits; colons between bytes and upper case are
	// accepted and normalized (what `openssl x509 -noout -fingerprint
	// -sha256` prints after its "=").
	Fingerprint string `json:"fingerprint,omitempty"`
	// Subject lists attributes the certificate's subject must have, as
	// comma-separated TYPE=VALUE (CN, O, OU, C, ST, L, SERIALNUMBER; a
	// comma inside a value is written \,), e.g. "CN=hv1 id:7949be03" or
	// "CN=tor1,O=Example". Attributes not listed are not checked.
	Subject string `json:"subject,omitempty"`
}

// FingerprintPrefix starts every SwitchIdentity.Fingerprint.
const FingerprintPrefix = "sha256:"

// CertFingerprint is a certificate's fingerprint in the form
// SwitchIdentity.Fingerprint takes.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return FingerprintPrefix + hex.EncodeToString(sum[:])
}

// CertSubject is a certificate's subject as the unclaimed-switches report
// shows it (RFC 2253 order: "CN=…,OU=…,O=…").
func CertSubject(c *x509.Certificate) string { return c.Subject.String() }

// normalize puts the fingerprint into its canonical form (when it parses).
func (id *SwitchIdentity) normalize() {
	if id == nil {
		return
	}
	if fp, err := parseFingerprint(id.Fingerprint); err == nil {
		id.Fingerprint = fp
	}
	id.Subject = strings.TrimSpace(id.Subject)
}

// validate adds the identity's problems to fe under switch_identity.
func (id *SwitchIdentity) validate(fe *FieldErrors) {
	if id == nil {
		return
	}
	if id.Fingerprint == "" && id.Subject == "" {
		fe.Add("switch_identity", "set fingerprint, subject or both (or null to remove the pin)")
		return
	}
	if id.Fingerprint != "" {
		if _, err := parseFingerprint(id.Fingerprint); err != nil {
			fe.Add("switch_identity.fingerprint", "%v", err)
		}
	}
	if id.Subject != "" {
		if _, err := parseSubject(id.Subject); err != nil {
			fe.Add("switch_identity.subject", "%v", err)
		}
	}
}

// Match reports why cert (the switch's leaf certificate; nil when it
// presented none) does not satisfy the pin: nil when it does. A nil pin
// matches everything.
func (id *SwitchIdentity) Match(cert *x509.Certificate) error {
	if id == nil {
		return nil
	}
	if cert == nil {
		return errors.New("the NVE pins a switch certificate (switch_identity) but the switch presented none (not connected over TLS)")
	}
	if id.Fingerprint != "" {
		want, err := parseFingerprint(id.Fingerprint)
		if err != nil {
			return fmt.Errorf("switch_identity.fingerprint: %w", err)
		}
		if got := CertFingerprint(cert); got != want {
			return fmt.Errorf("certificate fingerprint %s is not the pinned %s", got, want)
		}
	}
	if id.Subject != "" {
		attrs, err := parseSubject(id.Subject)
		if err != nil {
			return fmt.Errorf("switch_identity.subject: %w", err)
		}
		for _, a := range attrs {
			if !slices.Contains(subjectValues(cert.Subject, a.oid), a.value) {
				return fmt.Errorf("certificate subject %q does not have %s=%s", CertSubject(cert), a.name, a.value)
			}
		}
	}
	return nil
}

func parseFingerprint(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	hexPart, ok := strings.CutPrefix(t, FingerprintPrefix)
	if !ok {
		return "", fmt.Errorf("%q must be %s followed by the certificate's SHA-256 in hex", s, FingerprintPrefix)
	}
	hexPart = strings.ReplaceAll(hexPart, ":", "")
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q must be %s followed by 64 hex digits (colons between bytes allowed)", s, FingerprintPrefix)
	}
	return FingerprintPrefix + hexPart, nil
}

// subjectAttr is one TYPE=VALUE of a subject pin.
type subjectAttr struct {
	name  string
	oid   asn1.ObjectIdentifier
	value string
}

// subjectOIDs are the attribute types a subject pin may name.
var subjectOIDs = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
}

func parseSubject(s string) ([]subjectAttr, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	var out []subjectAttr
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.ToUpper(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: each attribute is TYPE=VALUE, comma-separated (e.g. CN=hv1,O=Example)", s)
		}
		oid, known := subjectOIDs[k]
		if !known {
			return nil, fmt.Errorf("%q: attribute type %s is not one of CN, O, OU, C, ST, L, SERIALNUMBER", s, k)
		}
		out = append(out, subjectAttr{name: k, oid: oid, value: v})
	}
	return out, nil
}

// subjectValues lists the values of one attribute type in a subject.
func subjectValues(n pkix.Name, oid asn1.ObjectIdentifier) []string {
	var out []string
	for _, a := range n.Names {
		if a.Type.Equal(oid) {
			if s, ok := a.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
