package model

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorKind classifies an Error; the REST layer maps each kind to one HTTP
// status, so the kind is part of the API contract.
type ErrorKind string

const (
	KindInvalid   ErrorKind = "invalid"   // 422: a field's value is not acceptable
	KindNotFound  ErrorKind = "not_found" // 404: the named object does not exist
	KindConflict  ErrorKind = "conflict"  // 409: duplicate name/VNI/MAC/IP, or delete with dependents
	KindReference ErrorKind = "reference" // 422: a referenced object (port's vn/nve) does not exist
)

// FieldError is one problem with one field, named by its JSON path
// ("vni", "bum.group", "ips[1]").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the error value of the domain and the store. It carries a kind,
// the first field at fault (if any), every field problem found, and for
// conflicts the names of the objects in the way.
type Error struct {
	Kind     ErrorKind    `json:"kind"`
	Message  string       `json:"message"`
	Field    string       `json:"field,omitempty"`
	Fields   []FieldError `json:"fields,omitempty"`
	Blocking []string     `json:"blocking,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	return b.String()
}

// Errorf builds an Error of the given kind about field (may be empty).
func Errorf(kind ErrorKind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// FieldErrors accumulates validation problems.
type FieldErrors []FieldError

// Add records a problem with field.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when there are no problems, otherwise a KindInvalid Error
// whose Field is the first field at fault and whose message lists them all.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	msgs := make([]string, len(fe))
	for i, f := range fe {
		msgs[i] = f.Field + ": " + f.Message
	}
	return &Error{Kind: KindInvalid, Field: fe[0].Field, Fields: append([]FieldError(nil), fe...),
		Message: "validation failed: " + strings.Join(msgs, "; ")}
}
