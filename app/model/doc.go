// Package model owns nva's domain model, after RFC 8014: virtual networks
// (VNs), network virtualization edges (NVEs) and tenant-system ports attached
// to a VN through a virtual access point (VAP) on an NVE. It is pure Go with
// no I/O: types, defaults, validation that names every bad field by its JSON
// path, and the typed error values every layer above uses.
package model
