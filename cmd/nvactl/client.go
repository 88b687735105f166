package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nva-project/nva/web/wire"
)

// client talks to one nva REST API.
type client struct {
	base  string
	http  *http.Client
	sleep func(context.Context, time.Duration) error
	// attempts bounds tries after 503 (no leader yet); 0 means 4.
	attempts int
	// token is sent as "Authorization: Bearer" when set.
	token string
	// prefer is sent as RFC 7240's Prefer header when set (preferring).
	prefer string
}

// preferring returns a copy of c that sends Prefer: p with every request.
func (c *client) preferring(p string) *client {
	cp := *c
	cp.prefer = p
	return &cp
}

// apiError is an error response of the API.
type apiError struct {
	status int
	body   wire.ErrorDetail
	raw    []byte
}

func asAPIError(err error, target **apiError) bool { return errors.As(err, target) }

func (e *apiError) Error() string {
	var b strings.Builder
	b.WriteString(e.body.Message)
	if e.body.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.body.Field)
	}
	if len(e.body.Blocking) > 0 && !strings.Contains(e.body.Message, e.body.Blocking[0]) {
		fmt.Fprintf(&b, "; blocked by: %s", strings.Join(e.body.Blocking, ", "))
	}
	if len(e.body.Laggards) > 0 && !strings.Contains(e.body.Message, e.body.Laggards[0]) {
		fmt.Fprintf(&b, "; not realized on: %s", strings.Join(e.body.Laggards, ", "))
	}
	code := e.body.Code
	if code == "" {
		code = http.StatusText(e.status)
	}
	return fmt.Sprintf("%s [%d %s]", b.String(), e.status, code)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// do sends one request and returns the raw response body of a 2xx answer.
// Writes carry one X-Request-ID across retries, so a write retried after
// a 503 (no leader yet) is applied once.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	reqID := newRequestID()
	attempts := c.attempts
	if attempts <= 0 {
		attempts = 4
	}
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			ct := "application/json"
			if method == http.MethodPatch {
				ct = "application/merge-patch+json"
			}
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		req.Header.Set(wire.RequestIDHeader, reqID)
		if c.prefer != "" {
			req.Header.Set(wire.PreferHeader, c.prefer)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, u, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: reading response: %w", method, u, err)
		}
		if resp.StatusCode/100 == 2 {
			return b, nil
		}
		ae := &apiError{status: resp.StatusCode, raw: b}
		var eb wire.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			ae.body = eb.Error
		} else {
			ae.body.Message = strings.TrimSpace(string(b))
			if ae.body.Message == "" {
				ae.body.Message = resp.Status
			}
		}
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < attempts {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s <= 10 {
				wait = time.Duration(s) * time.Second
			}
			if err := c.sleep(ctx, wait); err != nil {
				return nil, ae
			}
			continue
		}
		return nil, ae
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
