package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nva-project/nva/web/wire"
	"io"
	"net/http"
	"strings"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/store"
)

// APIError describes one failed request: the body's detail plus the HTTP
// status (and Retry-After) it is answered with.
type APIError struct {
	wire.ErrorDetail

	status     int
	retryAfter string
}

func (e *APIError) Error() string {
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		return fmt.Sprintf("%s (field %s)", e.Message, e.Field)
	}
	return e.Message
}

func newAPIError(status int, code, field, format string, args ...any) *APIError {
	return &APIError{status: status, ErrorDetail: wire.ErrorDetail{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

func badRequest(field, format string, args ...any) *APIError {
	return newAPIError(http.StatusBadRequest, wire.CodeBadRequest, field, format, args...)
}

// toAPIError maps any error from decoding or the backend to its status and
// body.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if me, ok := model.AsError(err); ok {
		out := &APIError{ErrorDetail: wire.ErrorDetail{Message: me.Message, Field: me.Field, Fields: me.Fields, Blocking: me.Blocking}}
		switch me.Kind {
		case model.KindInvalid:
			out.status, out.Code = http.StatusUnprocessableEntity, wire.CodeInvalid
		case model.KindReference:
			out.status, out.Code = http.StatusUnprocessableEntity, wire.CodeReference
		case model.KindNotFound:
			out.status, out.Code = http.StatusNotFound, wire.CodeNotFound
		case model.KindConflict:
			out.status, out.Code = http.StatusConflict, wire.CodeConflict
		default:
			out.status, out.Code = http.StatusInternalServerError, wire.CodeInternal
		}
		return out
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newAPIError(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "",
			"request body is larger than %d bytes", mbe.Limit)
	}
	switch {
	case store.IsNoLeader(err):
		e := newAPIError(http.StatusServiceUnavailable, wire.CodeNoLeader, "",
			"no cluster leader is available; retry the request: %v", err)
		e.retryAfter = "1"
		return e
	case store.IsClosed(err):
		e := newAPIError(http.StatusServiceUnavailable, wire.CodeUnavailable, "",
			"this node is shutting down; retry on another member: %v", err)
		e.retryAfter = "1"
		return e
	case store.IsTimeout(err):
		return newAPIError(http.StatusGatewayTimeout, wire.CodeTimeout, "",
			"the cluster did not commit the request in time; retry with the same X-Request-ID: %v", err)
	case errors.Is(err, context.Canceled):
		return newAPIError(499, "canceled", "", "request canceled: %v", err)
	}
	return newAPIError(http.StatusInternalServerError, wire.CodeInternal, "", "%v", err)
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
	writeJSON(w, ae.status, wire.ErrorBody{Error: ae.ErrorDetail})
	return ae
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(wire.ErrorBody{Error: wire.ErrorDetail{Code: wire.CodeInternal, Message: "encoding response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Two writes, not append(b, '\n'): a large body (the NVE list of a
	// big fleet) would be copied whole for its last byte.
	w.Write(b)
	io.WriteString(w, "\n")
}
