package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nva-project/nva/app/model"
	"github.com/nva-project/nva/web/wire"
)

// Client is the harness's REST client of one nva node.
type Client struct {
	Base string // http://host:port
	hc   *http.Client
}

// NewClient returns a client of the API at base.
func NewClient(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 5 * time.Minute}}
}

// APIError is an answer other than 2xx.
type APIError struct {
	Status int
	Body   wire.ErrorBody
	Raw    string
}

func (e *APIError) Error() string {
	if e.Body.Error.Code != "" {
		return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Body.Error.Code, e.Body.Error.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Raw))
}

// Do sends in (JSON, nil: no body) and decodes a 2xx answer into out (nil:
// discarded).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, "", in, out)
}

func (c *Client) do(ctx context.Context, method, path, requestID string, in, out any, hdr ...string) error {
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case json.RawMessage: // encoded ahead (Batch)
		body = bytes.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		req.Header.Set(wire.RequestIDHeader, requestID)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode, Raw: string(raw)}
		_ = json.Unmarshal(raw, &e.Body)
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// Batch posts one batch under request ID id and returns its revision. As
// an orchestrator would, it retries (same ID, so the batch applies once)
// while nva answers 503 or the connection fails, at most retries times, a
// second apart; it returns how many retries it took.
func (c *Client) Batch(ctx context.Context, id string, items []wire.BatchItem, retries int) (uint64, int, error) {
	body, err := EncodeBatch(items)
	if err != nil {
		return 0, 0, err
	}
	return c.BatchEncoded(ctx, id, body, retries)
}

// EncodeBatch is the request body of a batch of items.
func EncodeBatch(items []wire.BatchItem) (json.RawMessage, error) {
	return json.Marshal(wire.BatchRequest{Items: items})
}

// BatchEncoded is Batch with the body encoded ahead (EncodeBatch), so a
// timed load spends no client CPU on JSON while the fleet keeps this
// process busy.
func (c *Client) BatchEncoded(ctx context.Context, id string, body json.RawMessage, retries int) (uint64, int, error) {
	var resp wire.BatchResponse
	for try := 0; ; try++ {
		// The harness needs the revision only: return=minimal spares
		// encoding and decoding every stored object again.
		err := c.do(ctx, http.MethodPost, "/api/v1/batch", id, body, &resp,
			wire.PreferHeader, wire.PreferReturnMinimal)
		if err == nil {
			return resp.Revision, try, nil
		}
		var ae *APIError
		if try >= retries || ctx.Err() != nil || (errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable) {
			return 0, try, err
		}
		select {
		case <-ctx.Done():
			return 0, try, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// NVEs lists the NVEs with their status.
func (c *Client) NVEs(ctx context.Context) ([]wire.NVEView, error) {
	var list struct {
		Items []wire.NVEView `json:"items"`
	}
	err := c.Do(ctx, http.MethodGet, "/api/v1/nves", nil, &list)
	return list.Items, err
}

// Flows is NVE name's flow report.
func (c *Client) Flows(ctx context.Context, name string) (*model.FlowReport, error) {
	var r model.FlowReport
	err := c.Do(ctx, http.MethodGet, "/api/v1/nves/"+name+"/flows", nil, &r)
	return &r, err
}

// Health is the node's health.
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	var h wire.Health
	err := c.Do(ctx, http.MethodGet, "/api/v1/health", nil, &h)
	return h, err
}

// Goroutines reads go_goroutines from the node's /metrics (-1 when
// missing). It asks for that family only (name[]): a scrape of the
// traffic counters would make nva poll them, and the harness measures
// nva at rest with nobody looking.
func (c *Client) Goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/metrics?name%5B%5D=go_goroutines", nil)
	if err != nil {
		return -1, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return int(n), nil
			}
		}
	}
	return -1, fmt.Errorf("/metrics has no go_goroutines")
}
