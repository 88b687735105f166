//go:build tools

// Package deps pins the project's decided dependencies in go.mod before
// every package that uses them exists (see DEVELOPERS.md).
package deps

import (
	_ "antrea.io/libOpenflow/openflow13"
	_ "github.com/gorilla/mux"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/ovn-kubernetes/libovsdb/client"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "gopkg.in/yaml.v3"
)
