// Package model owns nva's domain model, after RFC 8014: virtual networks
// (VNs), network virtualization edges (NVEs) and tenant-system ports attached
// to a VN through a virtual access point (VAP) on an NVE. It is pure Go with
// no I/O: types, defaults, validation that names every bad field by its JSON
// path, the typed error values every layer above uses, and the Snapshot:
// the domain at one revision with its one index (ports by VN and by NVE,
// the NVEs sharing a VN, ports by MAC and IP) that every layer asks.
package model
