// Package archtest owns the test that keeps nva's layers one-way. It has
// no code of its own: see layers_test.go for the rule it enforces.
package archtest
