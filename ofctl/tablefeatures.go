package ofctl

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"antrea.io/libOpenflow/openflow13"

	"github.com/nva-project/nva/app/flow"
	"github.com/nva-project/nva/app/pipeline"
	"github.com/nva-project/nva/ofctl/conn"
)

// The table-features check. Where a switch answers OFPMP_TABLE_FEATURES
// (an empty request: "tell me your tables"; Open vSwitch does), nva
// compares the profile's tables, as realized for the NVE (table_ids
// applied), with the switch's before writing anything: every table number
// must exist, the profile must not need more tables than the switch has
// (n_tables of FEATURES_REPLY), each table must be able to match the
// fields its contract matches (OFPTFPT_MATCH), match and write the
// metadata bits the pipeline uses, and go to the tables it goes to
// (OFPTFPT_NEXT_TABLES). A mismatch is the NVE's error, naming the table
// and what is missing, instead of one refused flow-mod after another. A
// switch that answers with an error, nothing, or no tables is not
// checked (logged once per connection at info).

// tableFeaturesTimeout bounds the wait for the answer: a switch that does
// not implement the request may never answer it.
const tableFeaturesTimeout = 5 * time.Second

// tableFeature is what nva keeps of one ofp_table_features entry: the
// facts checkTables uses, nothing else (not the name, the sizes or the
// other properties). A nil Match, or hasNext false, means the switch did
// not send that property (nothing is checked against it).
type tableFeature struct {
	ID            uint8
	MetadataMatch uint64
	MetadataWrite uint64
	// Match is OFPTFPT_MATCH. Tables that list the same fields share one
	// array (a switch's tables usually all match the same fields).
	Match   []oxmID
	next    tableSet // OFPTFPT_NEXT_TABLES
	hasNext bool
}

// goesTo reports whether the table may go to table no (true when the
// switch did not say).
func (f *tableFeature) goesTo(no uint8) bool { return !f.hasNext || f.next.has(no) }

// tableSet is a set of table IDs.
type tableSet [4]uint64

func (t *tableSet) add(id uint8)     { t[id/64] |= 1 << (id % 64) }
func (t tableSet) has(id uint8) bool { return t[id/64]&(1<<(id%64)) != 0 }

// oxmID is an OXM class and field (mask and length bits dropped).
type oxmID struct {
	Class uint16
	Field uint8
}

// tableFeatures is one connection's answer: its tables sorted by ID. A
// parsed answer is immutable, so switches that answer alike share one
// (see featuresCache).
type tableFeatures struct {
	tables  []tableFeature // nil: not checked (skipped says why)
	skipped string         // why the check is skipped ("" when there is an answer)
}

// table returns the switch's table id (nil: it has none).
func (tf *tableFeatures) table(id uint8) *tableFeature {
	i, ok := slices.BinarySearchFunc(tf.tables, id, func(f tableFeature, id uint8) int { return cmp.Compare(f.ID, id) })
	if !ok {
		return nil
	}
	return &tf.tables[i]
}

// parseTableFeatures parses the concatenated bodies of an
// OFPMP_TABLE_FEATURES reply into its tables, sorted by ID.
func parseTableFeatures(body []byte) ([]tableFeature, error) {
	n := 0
	for b := body; len(b) >= 2; n++ { // count the entries, to size the result
		l := int(binary.BigEndian.Uint16(b[0:2]))
		if l < 64 || l > len(b) {
			break // reported below
		}
		b = b[l:]
	}
	out := make([]tableFeature, 0, n)
	for len(body) > 0 {
		if len(body) < 64 {
			return nil, fmt.Errorf("table features: %d trailing bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body[0:2]))
		if n < 64 || n > len(body) {
			return nil, fmt.Errorf("table features entry length %d (of %d bytes)", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		tf := tableFeature{
			ID:            e[2],
			MetadataMatch: binary.BigEndian.Uint64(e[40:48]),
			MetadataWrite: binary.BigEndian.Uint64(e[48:56]),
		}
		props := e[64:]
		for len(props) >= 4 {
			typ := binary.BigEndian.Uint16(props[0:2])
			plen := int(binary.BigEndian.Uint16(props[2:4]))
			if plen < 4 || plen > len(props) {
				return nil, fmt.Errorf("table %d: property %d length %d", tf.ID, typ, plen)
			}
			val := props[4:plen]
			switch typ {
			case openflow13.OFPTFPT13_MATCH:
				ids, err := parseOXMIDs(val)
				if err != nil {
					return nil, fmt.Errorf("table %d: match property: %w", tf.ID, err)
				}
				// Share the previous table's array when it lists the
				// same fields.
				if k := len(out); k > 0 && out[k-1].Match != nil && slices.Equal(out[k-1].Match, ids) {
					ids = out[k-1].Match
				}
				tf.Match = ids
			case openflow13.OFPTFPT13_NEXT_TABLES:
				tf.hasNext = true
				for _, id := range val {
					tf.next.add(id)
				}
			}
			padded := (plen + 7) / 8 * 8
			if padded > len(props) {
				padded = len(props)
			}
			props = props[padded:]
		}
		out = append(out, tf)
	}
	slices.SortStableFunc(out, func(a, b tableFeature) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// parseOXMIDs reads an array of OXM headers (experimenter ones carry their
// 4-byte experimenter ID after the header).
func parseOXMIDs(b []byte) ([]oxmID, error) {
	out := make([]oxmID, 0, len(b)/4)
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		h := binary.BigEndian.Uint32(b[0:4])
		id := oxmID{Class: uint16(h >> 16), Field: uint8(h>>9) & 0x7f}
		step := 4
		if id.Class == flow.ClassExperimenter {
			step = 8
			if len(b) < 8 {
				return nil, fmt.Errorf("truncated experimenter OXM ID")
			}
		}
		out = append(out, id)
		b = b[step:]
	}
	return slices.Clip(out), nil
}

// featuresCache shares parsed table-features answers between the switches
// that send the same one (a fleet of one kind of switch: all of them): a
// switch's record costs a pointer, not its own copy of 254 tables. An
// answer is kept while a switch refers to it (weak references: the entry
// goes when the last switch that had it does).
type featuresCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[tableFeatures]
}

// parsed returns the tables of an answer (body), parsing it unless a
// switch that sent the same answer is still known.
func (c *featuresCache) parsed(body []byte) (*tableFeatures, error) {
	key := sha256.Sum256(body)
	c.mu.Lock()
	tf := c.m[key].Value()
	c.mu.Unlock()
	if tf != nil {
		return tf, nil
	}
	list, err := parseTableFeatures(body)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[key].Value(); old != nil {
		return old, nil // parsed meanwhile for another switch
	}
	tf = &tableFeatures{tables: list}
	if c.m == nil {
		c.m = map[[sha256.Size]byte]weak.Pointer[tableFeatures]{}
	}
	c.m[key] = weak.Make(tf)
	runtime.AddCleanup(tf, c.forget, key)
	return tf, nil
}

// forget drops the entry of an answer no switch refers to any more.
func (c *featuresCache) forget(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wp, ok := c.m[key]; ok && wp.Value() == nil {
		delete(c.m, key)
	}
}

// readTableFeatures asks the switch for its tables (parsed through cache).
// A switch that answers with an error, not at all, or with no tables is
// skipped (the reason is returned in skipped); only a connection error is
// an error.
func readTableFeatures(ctx context.Context, sw *conn.Switch, cache *featuresCache) (*tableFeatures, error) {
	ctx, cancel := context.WithTimeout(ctx, tableFeaturesTimeout)
	defer cancel()
	body, err := sw.Multipart(ctx, openflow13.MultipartType_TableFeatures, nil)
	var oe *conn.OFError
	switch {
	case errors.As(err, &oe):
		return &tableFeatures{skipped: fmt.Sprintf("the switch refused OFPMP_TABLE_FEATURES (%v)", oe)}, nil
	case errors.Is(err, context.DeadlineExceeded) && sw.Err() == nil:
		return &tableFeatures{skipped: fmt.Sprintf("no answer to OFPMP_TABLE_FEATURES within %v", tableFeaturesTimeout)}, nil
	case err != nil:
		return nil, fmt.Errorf("table features: %w", err)
	}
	tf, err := cache.parsed(body)
	if err != nil {
		return &tableFeatures{skipped: fmt.Sprintf("undecodable OFPMP_TABLE_FEATURES answer (%v)", err)}, nil
	}
	if tf == nil {
		return &tableFeatures{skipped: "the switch answered OFPMP_TABLE_FEATURES with no tables"}, nil
	}
	return tf, nil
}

// checkTables compares the realized profile with the switch's tables
// (features, nil when not known; nTables from FEATURES_REPLY, 0 if
// unknown) and lists every problem, each naming the table. nil means the
// profile fits.
func checkTables(prof pipeline.Profile, nTables uint8, features *tableFeatures) []string {
	var problems []string
	if nTables > 0 && len(prof.Tables) > int(nTables) {
		problems = append(problems, fmt.Sprintf("the profile needs %d tables, the switch reports %d (n_tables)", len(prof.Tables), nTables))
	}
	if features == nil || features.tables == nil {
		return problems
	}
	meta := metadataBits(prof)
	for _, t := range prof.Tables {
		where := fmt.Sprintf("table %d (%s)", t.Number, t.Name)
		f := features.table(t.Number)
		if f == nil {
			ids := make([]uint8, len(features.tables))
			for i, f := range features.tables {
				ids[i] = f.ID
			}
			problems = append(problems, fmt.Sprintf("%s: the switch has no table %d (its tables: %s)", where, t.Number, idRanges(slices.Compact(ids))))
			continue
		}
		var missing []string
		if f.Match != nil {
			for _, name := range t.Match {
				spec, ok := flow.Spec(name)
				if !ok || name == flow.Metadata || (spec.Nicira && !prof.Extensions) {
					continue // metadata: checked by its bits below
				}
				if !slices.ContainsFunc(f.Match, func(id oxmID) bool { return matchesSpec(id, spec) }) {
					missing = append(missing, "match "+name)
				}
			}
		}
		if slices.Contains(t.Match, flow.Metadata) && f.MetadataMatch&meta != meta {
			missing = append(missing, fmt.Sprintf("match metadata bits %#x (the switch matches %#x)", meta, f.MetadataMatch))
		}
		if t.WriteMetadata && f.MetadataWrite&meta != meta {
			missing = append(missing, fmt.Sprintf("write metadata bits %#x (the switch writes %#x)", meta, f.MetadataWrite))
		}
		for _, g := range t.Goto {
			no, ok := prof.Number(g)
			if ok && !f.goesTo(no) {
				missing = append(missing, fmt.Sprintf("goto table %d (%s)", no, g))
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s: the switch's table %d cannot %s", where, t.Number, strings.Join(missing, ", ")))
		}
	}
	return problems
}

// metadataBits are the metadata bits the profile's flows match and write:
// the VN context, the own-source-MAC bit of port security, and the stage
// selector when a table realizes several stages.
func metadataBits(prof pipeline.Profile) uint64 {
	bits := pipeline.MetaContext | pipeline.MetaOwnSrc.Mask()
	for _, t := range prof.Tables {
		if t.Shared() {
			bits |= pipeline.MetaStage.Mask()
		}
	}
	return bits
}

// matchesSpec reports whether an OXM ID the switch lists is the field.
func matchesSpec(id oxmID, spec *flow.FieldSpec) bool {
	return id.Class == spec.Class && id.Field == spec.Field
}

// idRanges renders sorted table IDs compactly: "0-3, 10, 20-21".
func idRanges(ids []uint8) string {
	if len(ids) == 0 {
		return "none"
	}
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(ids[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// tableMismatchError is a profile whose tables do not fit the switch:
// nothing is written until the NVE's profile (or the switch) changes.
type tableMismatchError struct {
	profile  string
	problems []string
}

func (e *tableMismatchError) Error() string {
	return fmt.Sprintf("the switch's tables do not fit profile %s: %s", e.profile, strings.Join(e.problems, "; "))
}

// checkSwitchTables runs the table-features check for w's switch and
// profile prof, asking the switch once per connection, and records the
// outcome in the NVE's status. It returns a *tableMismatchError when the
// profile does not fit.
func (s *Southbound) checkSwitchTables(ctx context.Context, w *worker, nve string, prof pipeline.Profile) error {
	if w.tables == nil {
		tf, err := readTableFeatures(ctx, w.sw, &s.tableFeatures)
		if err != nil {
			return err
		}
		w.tables = tf
		if tf.skipped != "" {
			s.log.Info("not checking the profile's tables against the switch", "nve", nve, "dpid", fmt.Sprintf("%016x", w.dpid), "reason", tf.skipped)
		}
	}
	problems := w.tableCheck.problems(prof, w.sw.Features().NumTables, w.tables)
	outcome := "ok"
	switch {
	case len(problems) > 0:
		outcome = "mismatch: " + strings.Join(problems, "; ")
	case w.tables.skipped != "":
		outcome = "skipped: " + w.tables.skipped
	}
	s.mu.Lock()
	s.state(nve).tableCheck = outcome
	s.mu.Unlock()
	if len(problems) > 0 {
		s.m.errors.WithLabelValues("profile").Inc()
		return &tableMismatchError{profile: prof.Name, problems: problems}
	}
	return nil
}

// tableCheck memoizes checkTables for one worker: its answer depends only
// on the profile, the switch's table count and its table features, which
// change with a new connection or profile, not with each reconciliation.
type tableCheck struct {
	done     bool
	profile  string
	tables   *pipeline.Table // the profile's first table (identity)
	n        uint8
	features *tableFeatures
	answer   []string
}

func (c *tableCheck) problems(prof pipeline.Profile, nTables uint8, features *tableFeatures) []string {
	var first *pipeline.Table
	if len(prof.Tables) > 0 {
		first = &prof.Tables[0]
	}
	if c.done && c.profile == prof.Name && c.tables == first && c.n == nTables && c.features == features {
		return c.answer
	}
	*c = tableCheck{done: true, profile: prof.Name, tables: first, n: nTables, features: features,
		answer: checkTables(prof, nTables, features)}
	return c.answer
}
