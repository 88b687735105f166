package web

import (
	"bytes"
	"encoding/json"
	"github.com/nva-project/nva/web/wire"
	"io"
	"mime"
	"net/http"
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
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, toAPIError(err)
	}
	return b, nil
}

// decodeStrict decodes one JSON value into dst, rejecting unknown fields
// and trailing data.
func decodeStrict(b []byte, dst any) error {
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

// decodePatch parses a merge-patch document; it must be a JSON object.
func decodePatch(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "malformed JSON: unexpected data after the JSON value")
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
