package ovsdb

import (
	"errors"
	"fmt"
	"strings"
)

// ControllerTargetForms names the forms ControllerTarget accepts, for
// error messages and usage texts.
const ControllerTargetForms = "HOST:PORT, tcp:HOST:PORT or ssl:HOST:PORT"

// ControllerTarget turns a cluster member's advertised OpenFlow address
// into the Open vSwitch controller target the bridges are given. It accepts
// both the plain HOST:PORT form and the ovs-vsctl set-controller form: a
// tcp:HOST:PORT or ssl:HOST:PORT target is used as is, a bare HOST:PORT
// becomes tcp:HOST:PORT. The result is checked by the validator Desired
// uses for controller targets; the error says what is wrong with the
// address (ControllerTargetForms names the accepted forms).
func ControllerTarget(advertised string) (string, error) {
	if advertised == "" {
		return "", errors.New("empty address")
	}
	t := advertised
	scheme, _, _ := strings.Cut(advertised, ":")
	switch scheme {
	case "tcp", "ssl":
	case "unix":
		return "", errors.New("a unix: socket is not an address the switches of other hosts can reach")
	default:
		t = "tcp:" + advertised
	}
	if err := validateControllerTarget(t); err != nil {
		return "", errors.New(trimQuoted(err, t))
	}
	return t, nil
}

// trimQuoted drops the validator's leading quoting of what it checked, which
// the caller already names.
func trimQuoted(err error, checked string) string {
	msg := err.Error()
	for _, q := range []string{fmt.Sprintf("%q: ", checked), fmt.Sprintf("%q: ", strings.SplitN(checked, ":", 2)[1])} {
		msg = strings.TrimPrefix(msg, q)
	}
	return msg
}
