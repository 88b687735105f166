package ovsdb

// The rows nva keeps of an NVE's Open_vSwitch database: only the columns
// it monitors (monitored), so a cached row costs what nva reads of it,
// not every column of the schema (vswitch.Interface has over forty). The
// field names and types are those of the generated vswitch structs;
// libovsdb's mapper fills them from the same ovsdb tags.

// rootRow is the Open_vSwitch table's row.
type rootRow struct {
	UUID    string   `ovsdb:"_uuid"`
	Bridges []string `ovsdb:"bridges"`
}

// bridgeRow is a Bridge row.
type bridgeRow struct {
	UUID         string            `ovsdb:"_uuid"`
	Name         string            `ovsdb:"name"`
	Ports        []string          `ovsdb:"ports"`
	Controller   []string          `ovsdb:"controller"`
	DatapathType string            `ovsdb:"datapath_type"`
	FailMode     *string           `ovsdb:"fail_mode"`
	Protocols    []string          `ovsdb:"protocols"`
	OtherConfig  map[string]string `ovsdb:"other_config"`
	ExternalIDs  map[string]string `ovsdb:"external_ids"`
}

// portRow is a Port row.
type portRow struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Interfaces  []string          `ovsdb:"interfaces"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// ifaceRow is an Interface row.
type ifaceRow struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Type        string            `ovsdb:"type"`
	Options     map[string]string `ovsdb:"options"`
	Ofport      *int              `ovsdb:"ofport"`
	LinkState   *string           `ovsdb:"link_state"`
	Error       *string           `ovsdb:"error"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
	BFD         map[string]string `ovsdb:"bfd"`
	BFDStatus   map[string]string `ovsdb:"bfd_status"`
}

// ctlRow is a Controller row.
type ctlRow struct {
	UUID            string            `ovsdb:"_uuid"`
	Target          string            `ovsdb:"target"`
	ConnectionMode  *string           `ovsdb:"connection_mode"`
	InactivityProbe *int              `ovsdb:"inactivity_probe"`
	MaxBackoff      *int              `ovsdb:"max_backoff"`
	ExternalIDs     map[string]string `ovsdb:"external_ids"`
}
