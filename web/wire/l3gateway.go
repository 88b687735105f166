package wire

import "github.com/nva-project/nva/app/model"

// L3Gateway is the body of /api/v1/l3gateways: an L3 domain's gateway to
// the non-virtualized network (model.L3Gateway; ct_zone and revision are
// set by nva).
type L3Gateway = model.L3Gateway

// FloatingIP is one 1:1 mapping of an L3 gateway.
type FloatingIP = model.FloatingIP

// L3GatewayList is the body of GET /api/v1/l3gateways.
type L3GatewayList struct {
	Items []L3Gateway `json:"items"`
}
