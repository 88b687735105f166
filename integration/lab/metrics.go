package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Metrics fetches nva's Prometheus endpoint (/metrics, text format) and
// returns every sample by its series as printed: "name" or
// `name{label="value",...}`.
func (c *Client) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return parseMetrics(string(b))
}

// parseMetrics parses the Prometheus text format's samples (no
// timestamps, which nva's endpoint does not write).
func parseMetrics(text string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		out[strings.TrimSpace(line[:i])] = v
	}
	return out, nil
}

// MetricSum is the sum of a metric's samples over all its label sets
// (0 when it has none).
func MetricSum(m map[string]float64, name string) float64 {
	var sum float64
	for series, v := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			sum += v
		}
	}
	return sum
}

// MetricSeries returns a metric's samples, by series, for logs.
func MetricSeries(m map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			out[series] = v
		}
	}
	return out
}
