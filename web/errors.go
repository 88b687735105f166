package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/raft"
	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// Error codes of the API's error bodies. They are part of the API contract.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalid          = "invalid"   // 422: a field's value is not acceptable
	CodeReference        = "reference" // 422: a referenced VN/NVE does not exist
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeNoLeader         = "no_leader"
	CodeUnavailable      = "unavailable" // 503: the node is shutting down
	CodeTimeout          = "timeout"
	CodeNotRealized      = "not_realized"
	CodeNotImplemented   = "not_implemented"
	CodeInternal         = "internal"
)

// ErrorBody is the JSON body of every error response:
// {"error": {...}}.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError describes one failed request.
type APIError struct {
	Code     string             `json:"code"`
	Message  string             `json:"message"`
	Field    string             `json:"field,omitempty"`
	Fields   []model.FieldError `json:"fields,omitempty"`
	Blocking []string           `json:"blocking,omitempty"`
	Laggards []string           `json:"laggards,omitempty"`

	status     int    `json:"-"`
	retryAfter string `json:"-"`
}

func (e *APIError) Error() string {
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		return fmt.Sprintf("%s (field %s)", e.Message, e.Field)
	}
	return e.Message
}

func newAPIError(status int, code, field, format string, args ...any) *APIError {
	return &APIError{status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badRequest(field, format string, args ...any) *APIError {
	return newAPIError(http.StatusBadRequest, CodeBadRequest, field, format, args...)
}

// toAPIError maps any error from decoding or the backend to its status and
// body.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if me, ok := model.AsError(err); ok {
		out := &APIError{Message: me.Message, Field: me.Field, Fields: me.Fields, Blocking: me.Blocking}
		switch me.Kind {
		case model.KindInvalid:
			out.status, out.Code = http.StatusUnprocessableEntity, CodeInvalid
		case model.KindReference:
			out.status, out.Code = http.StatusUnprocessableEntity, CodeReference
		case model.KindNotFound:
			out.status, out.Code = http.StatusNotFound, CodeNotFound
		case model.KindConflict:
			out.status, out.Code = http.StatusConflict, CodeConflict
		default:
			out.status, out.Code = http.StatusInternalServerError, CodeInternal
		}
		return out
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newAPIError(http.StatusRequestEntityTooLarge, CodeTooLarge, "",
			"request body is larger than %d bytes", mbe.Limit)
	}
	switch {
	case errors.Is(err, store.ErrNoLeader), errors.Is(err, raft.ErrNotLeader),
		errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		e := newAPIError(http.StatusServiceUnavailable, CodeNoLeader, "",
			"no cluster leader is available; retry the request: %v", err)
		e.retryAfter = "1"
		return e
	case errors.Is(err, store.ErrClosed), errors.Is(err, raft.ErrRaftShutdown):
		e := newAPIError(http.StatusServiceUnavailable, CodeUnavailable, "",
			"this node is shutting down; retry on another member: %v", err)
		e.retryAfter = "1"
		return e
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, raft.ErrEnqueueTimeout):
		return newAPIError(http.StatusGatewayTimeout, CodeTimeout, "",
			"the cluster did not commit the request in time; retry with the same X-Request-ID: %v", err)
	case errors.Is(err, context.Canceled):
		return newAPIError(499, "canceled", "", "request canceled: %v", err)
	}
	return newAPIError(http.StatusInternalServerError, CodeInternal, "", "%v", err)
}

// decodeError turns an encoding/json error into a 400 naming the field.
func decodeError(err error) *APIError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return toAPIError(err)
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te) && te.Field == "":
		return badRequest("", "request body must be a JSON object, not a JSON %s", te.Value)
	case errors.As(err, &te):
		f := te.Field
		return badRequest(f, "field %q: cannot use JSON %s as %s", f, te.Value, te.Type)
	case errors.Is(err, io.EOF):
		return badRequest("", "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return badRequest(f, "unknown field %q", f)
	}
	return badRequest("", "malformed JSON: %v", err)
}

func writeError(w http.ResponseWriter, err error) *APIError {
	ae := toAPIError(err)
	if ae.retryAfter != "" {
		w.Header().Set("Retry-After", ae.retryAfter)
	}
	writeJSON(w, ae.status, ErrorBody{Error: *ae})
	return ae
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: APIError{Code: CodeInternal, Message: "encoding response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
