package ovsdb

import (
	"crypto/tls"

	"github.com/nva-project/nva/app/model"
)

// SwitchClientTLS is the configuration of an ssl: OVSDB session to a
// switch from base (the node's certificate, the switch CA): the server's
// chain is verified against the switch CA with no host name, and against
// pin when it is not nil, as for hypervisors (WithClientTLS). The daemon
// gives it to the VTEP manager (ovsdb/vtep), which speaks the same
// protocol to a different schema.
func SwitchClientTLS(base *tls.Config, pin *model.SwitchIdentity) *tls.Config {
	return switchClientTLS(base, pin)
}
