package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/nva-project/nva/web/wire"
)

const applyLong = `Apply many creates, updates and deletes of VNs, NVEs and ports from a file
(YAML or JSON; -f - reads standard input) through POST /api/v1/batch: all of
them, in order, as one atomic change (one Raft entry), or none of them.

The file has either form, or both:

  # Declarative: create what does not exist, replace what does (an object
  # replaces the stored one whole: fields left out get their defaults,
  # except vni and datapath_id, which keep the current ones).
  vns:
    - {name: blue, vni: 100}
  nves:
    - {name: hv1, underlay_ips: [198.18.0.1], ovsdb: "unix:/run/openvswitch/db.sock"}
  ports:
    - {name: web1, vn: blue, nve: hv1, interface: veth1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}

  # The API's own items, for deletes and conditional updates:
  items:
    - {op: delete, kind: port, name: old1}
    - {op: update, kind: vn, if_revision: 42, object: {name: red, mtu: 1400}}
    - {op: create, kind: vn, object: {name: green}}

They are applied in that order: vns, nves, ports, then items. Which of the
vns/nves/ports exist is read from the server (a consistent read) just
before; an object created by someone else in between makes the batch fail
with a conflict, and nothing is applied: run apply again. Objects are the
JSON of the REST API (see web/API.md); quote a datapath_id or a MAC that
YAML would read as a number.

One batch takes at most 10000 items and 32 MiB. --batch-size N splits a
larger file into batches of N items, each atomic on its own: a failure
stops at that batch, and the ones before it stay applied.

On success apply prints how many objects it created, updated and deleted
of each kind, and the revision (-o json: the server's answers). When the
server refuses the batch, apply prints every failing item (its index, its
place in the file, the field and why) and exits 1.`

// applyFile is the file apply reads.
type applyFile struct {
	VNs   []json.RawMessage `json:"vns"`
	NVEs  []json.RawMessage `json:"nves"`
	Ports []json.RawMessage `json:"ports"`
	Items []wire.BatchItem  `json:"items"`
}

// applyItem is one item to send and where in the file it came from.
type applyItem struct {
	wire.BatchItem
	source string // "ports[2]"
	name   string
}

func (a *app) applyCmd() *cobra.Command {
	var file string
	var wait bool
	var batchSize int
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Apply creates, updates and deletes from a YAML or JSON file, atomically",
		Long:  applyLong,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("give the file with -f FILE (or -f - for standard input)")
			}
			if batchSize < 0 || batchSize > wire.MaxBatchItems {
				return fmt.Errorf("--batch-size must be between 1 and %d (0: one batch)", wire.MaxBatchItems)
			}
			raw, err := readApplyFile(file, c.InOrStdin())
			if err != nil {
				return err
			}
			f, err := parseApplyFile(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			cl := a.client()
			items, err := f.items(c.Context(), cl)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				return fmt.Errorf("%s: nothing to apply: give vns, nves, ports or items", file)
			}
			size := batchSize
			if size == 0 {
				size = len(items)
				if size > wire.MaxBatchItems {
					return fmt.Errorf("%s has %d items, more than the %d of one batch: give --batch-size (each batch is then atomic on its own)", file, len(items), wire.MaxBatchItems)
				}
			}
			q := a.writeQuery()
			if wait {
				q.Set("wait", "realized")
				q.Set("timeout", a.g.waitTimeout.String())
			}
			return a.sendBatches(c, cl, q, items, size)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file to apply (- for standard input)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every NVE has installed the change (as --wait-realized; --wait-timeout bounds it)")
	cmd.Flags().IntVar(&batchSize, "batch-size", 0, "split into atomic batches of this many items (0: the whole file in one batch)")
	return cmd
}

func readApplyFile(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return b, nil
	}
	return os.ReadFile(name)
}

// parseApplyFile reads JSON (a document starting with '{') or YAML.
func parseApplyFile(raw []byte) (*applyFile, error) {
	js := bytes.TrimSpace(raw)
	if len(js) == 0 || js[0] != '{' {
		var doc yaml.Node
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 {
			return nil, errors.New("the file is empty")
		}
		v, err := yamlJSON(doc.Content[0])
		if err != nil {
			return nil, err
		}
		if js, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	var f applyFile
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return nil, errors.New("the file must be a mapping (vns, nves, ports, items)")
		}
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the document")
	}
	return &f, nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// yamlJSON turns a YAML node into a value that encodes as JSON. A scalar
// that YAML reads as a number is a JSON number only when it is spelled as
// one; otherwise it stays the text written (a datapath ID such as
// 00004e5600000001 or 0x2a, which YAML would read as a float or an int).
func yamlJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlJSON(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlJSON(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain name", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
			}
			v, err := yamlJSON(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", nil
		case "!!int", "!!float":
			if jsonNumber.MatchString(n.Value) {
				return json.RawMessage(n.Value), nil
			}
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// items lists what to send, in order: vns, nves, ports (each a create or
// an update, after what the server has), then the file's own items.
func (f *applyFile) items(ctx context.Context, cl *client) ([]applyItem, error) {
	var out []applyItem
	for _, group := range []struct {
		key, kind string
		objs      []json.RawMessage
	}{
		{"vns", wire.KindVN, f.VNs},
		{"nves", wire.KindNVE, f.NVEs},
		{"ports", wire.KindPort, f.Ports},
	} {
		if len(group.objs) == 0 {
			continue
		}
		existing, err := existingNames(ctx, cl, group.key)
		if err != nil {
			return nil, err
		}
		for i, o := range group.objs {
			var named struct {
				Name string `json:"name"`
			}
			src := fmt.Sprintf("%s[%d]", group.key, i)
			if err := json.Unmarshal(o, &named); err != nil || named.Name == "" {
				return nil, fmt.Errorf("%s: each entry must be an object with a name", src)
			}
			op := wire.OpCreate
			if existing[named.Name] {
				op = wire.OpUpdate
			}
			out = append(out, applyItem{BatchItem: wire.BatchItem{Op: op, Kind: group.kind, Object: o}, source: src, name: named.Name})
		}
	}
	for i, it := range f.Items {
		name := it.Name
		if name == "" && len(it.Object) > 0 {
			var named struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(it.Object, &named)
			name = named.Name
		}
		out = append(out, applyItem{BatchItem: it, source: fmt.Sprintf("items[%d]", i), name: name})
	}
	return out, nil
}

// existingNames reads the names of one collection, linearizably.
func existingNames(ctx context.Context, cl *client, plural string) (map[string]bool, error) {
	raw, err := cl.do(ctx, http.MethodGet, "/api/v1/"+plural, url.Values{"consistent": {"true"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the existing %s: %w", plural, err)
	}
	var l struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", plural, err)
	}
	out := make(map[string]bool, len(l.Items))
	for _, it := range l.Items {
		out[it.Name] = true
	}
	return out, nil
}

// sendBatches posts the items in batches of size and prints the summary.
func (a *app) sendBatches(c *cobra.Command, cl *client, q url.Values, items []applyItem, size int) error {
	type count struct{ op, kind string }
	counts := map[count]int{}
	var revision uint64
	var answers []json.RawMessage
	batches := (len(items) + size - 1) / size
	if a.g.output != "json" {
		// The summary needs only each item's op and kind: the server need
		// not send every stored object back.
		cl = cl.preferring(wire.PreferReturnMinimal)
	}
	for b := 0; b < batches; b++ {
		lo, hi := b*size, min((b+1)*size, len(items))
		req := wire.BatchRequest{Items: make([]wire.BatchItem, hi-lo)}
		for i := range req.Items {
			req.Items[i] = items[lo+i].BatchItem
		}
		raw, err := cl.do(c.Context(), http.MethodPost, "/api/v1/batch", q, req)
		if err != nil {
			return batchFailure(err, items[lo:hi], lo, b, batches, revision)
		}
		var res wire.BatchResponse
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("decoding the answer to batch %d: %w", b+1, err)
		}
		for _, it := range res.Items {
			counts[count{it.Op, it.Kind}]++
		}
		revision = res.Revision
		answers = append(answers, raw)
	}
	if a.g.output == "json" {
		if len(answers) == 1 {
			return printJSON(c.OutOrStdout(), answers[0])
		}
		all, _ := json.Marshal(answers)
		return printJSON(c.OutOrStdout(), all)
	}
	keys := make([]count, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	opOrder := map[string]int{wire.OpCreate: 0, wire.OpUpdate: 1, wire.OpDelete: 2}
	kindOrder := map[string]int{wire.KindVN: 0, wire.KindNVE: 1, wire.KindPort: 2}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].op != keys[j].op {
			return opOrder[keys[i].op] < opOrder[keys[j].op]
		}
		return kindOrder[keys[i].kind] < kindOrder[keys[j].kind]
	})
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k.op, k.kind, strconv.Itoa(counts[k])})
	}
	if err := printTable(c.OutOrStdout(), []string{"OP", "KIND", "COUNT"}, rows); err != nil {
		return err
	}
	noun := "1 batch"
	if batches > 1 {
		noun = fmt.Sprintf("%d batches", batches)
	}
	fmt.Fprintf(c.OutOrStdout(), "applied %d items in %s at revision %d\n", len(items), noun, revision)
	return nil
}

var itemPath = regexp.MustCompile(`^items\[(\d+)\](?:\.(.*))?$`)

// batchError is a refused batch: the server's error and each failing
// item, placed in the file.
type batchError struct {
	head  string
	lines []string
}

func (e *batchError) Error() string {
	return e.head + "\n  " + strings.Join(e.lines, "\n  ")
}

// batchFailure explains a refused batch item by item: the server names
// each failing field items[i].<field> (i within this batch, offset lo in
// the file's list).
func batchFailure(err error, items []applyItem, lo, b, batches int, revision uint64) error {
	var ae *apiError
	if !asAPIError(err, &ae) || len(ae.body.Fields) == 0 {
		return batchPrefix(err, b, batches, revision)
	}
	head := fmt.Sprintf("the server refused the batch [%d %s], nothing of it applied; failing items:", ae.status, ae.body.Code)
	var lines []string
	for _, f := range ae.body.Fields {
		m := itemPath.FindStringSubmatch(f.Field)
		if m == nil {
			lines = append(lines, fmt.Sprintf("%s: %s", f.Field, f.Message))
			continue
		}
		i, _ := strconv.Atoi(m[1])
		where := fmt.Sprintf("items[%d]", lo+i)
		if i < len(items) {
			it := items[i]
			where = fmt.Sprintf("%s (%s %s %s %q)", where, it.source, it.Op, it.Kind, it.name)
		}
		if m[2] != "" {
			where += " " + m[2]
		}
		lines = append(lines, where+": "+f.Message)
	}
	return batchPrefix(&batchError{head: head, lines: lines}, b, batches, revision)
}

func batchPrefix(err error, b, batches int, revision uint64) error {
	if batches == 1 {
		return err
	}
	if b == 0 {
		return fmt.Errorf("batch 1 of %d failed, nothing applied: %w", batches, err)
	}
	return fmt.Errorf("batch %d of %d failed; batches 1-%d stay applied (revision %d): %w", b+1, batches, b, revision, err)
}
