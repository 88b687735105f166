package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/nva-project/nva/web/wire"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strings"
)

// MaxBodyBytes is the largest request body the API accepts (413 above).
const MaxBodyBytes = 1 << 20

// checkJSONContentType accepts application/json, application/*+json (e.g.
// application/merge-patch+json) and a missing Content-Type; anything else
// is 415.
func checkJSONContentType(r *http.Request) *APIError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return newAPIError(http.StatusUnsupportedMediaType, wire.CodeUnsupportedMedia, "",
		"Content-Type %q is not supported; send application/json", ct)
}

// readBody checks the content type and reads at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ae := checkJSONContentType(r); ae != nil {
		return nil, ae
	}
	return readLimited(w, r, MaxBodyBytes)
}

// readLimited reads at most limit bytes of the body. A body that cannot
// be read is the client's fault and answered as such: 413 above limit,
// 408 when the connection's read deadline passes (a body sent too
// slowly), 400 when it ends before its Content-Length or its chunked
// framing is broken.
func readLimited(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return b, nil
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return nil, toAPIError(err)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, newAPIError(http.StatusRequestTimeout, wire.CodeTimeout, "",
			"the request body was not received in time: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, badRequest("", "the request body ended before its Content-Length (%d bytes): %v", r.ContentLength, err)
	}
	return nil, badRequest("", "reading the request body: %v", err)
}

// decodeStrict decodes one JSON value into dst, rejecting unknown fields
// and trailing data.
//
// Keys are matched exactly, at every depth (checkKeys): encoding/json
// alone would take {"Tenant":"t2"} for tenant, and would name an unknown
// nested field without its path.
func decodeStrict(b []byte, dst any) error {
	return decodeStrictWith(newKeyChecker(), b, dst)
}

// decodeStrictWith is decodeStrict with a key checker shared by many
// documents.
func decodeStrictWith(kc *keyChecker, b []byte, dst any) error {
	if ae := kc.checkDoc(b, reflect.TypeOf(dst)); ae != nil {
		return ae
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return badRequest("", "malformed JSON: unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "malformed JSON: unexpected data after the JSON value")
	}
	return nil
}

// mergePatch applies an RFC 7396 JSON merge patch to target and returns
// the result.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// decodeGeneric parses one JSON value (numbers as json.Number) and
// nothing after it.
func decodeGeneric(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "malformed JSON: unexpected data after the JSON value")
	}
	return v, nil
}

// decodePatch parses a merge-patch document; it must be a JSON object.
func decodePatch(b []byte) (map[string]any, error) {
	v, err := decodeGeneric(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("", "a merge patch must be a JSON object")
	}
	return m, nil
}

// toJSONMap renders v as a generic JSON object.
func toJSONMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
