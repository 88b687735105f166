package wire

import "github.com/nva-project/nva/app/model"

// PoliciesPath is the collection of inter-VN policy rules: POST and GET
// on it, GET, PATCH and DELETE on PoliciesPath + "/{name}".
const PoliciesPath = "/api/v1/policies"

// PolicyRule is the body of a policy rule (app/model's PolicyRule: name,
// tenant, l3_domain, priority, action, source, destination, protocol,
// ports, revision).
type PolicyRule = model.PolicyRule

// PolicyList is the body of GET PoliciesPath.
type PolicyList struct {
	Items []PolicyRule `json:"items"`
}
