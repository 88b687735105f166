package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a skipped JSON value, as encoding/json
// bounds it: the framer bounds a message's size, not its depth.
const maxDepth = 10000

// scan reads one JSON text in place, in a single pass: a message is
// decoded field by field into what nva keeps (the envelope's parts as
// slices of the message, a monitor's rows straight into their structs),
// and what it does not keep is only checked and skipped.
type scan struct {
	b  []byte
	i  int
	in *interner // shares the strings and maps of decoded rows (nil: none)

	// spans are where the framer found the containers of the members
	// of the message being scanned (nil: not known), in order: container
	// skips to their ends.
	spans []span

	// UUIDs: a UUID decoded is the string of the cached row it names, or
	// of the same UUID decoded before in the message.
	c       *Cache            // the cache decoded into (nil: none)
	ref     string            // the table the UUIDs being decoded name
	pending map[string]string // UUIDs decoded from this message
}

func (s *scan) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON at offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

// peek skips white space and returns the next byte (0 at the end).
func (s *scan) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *scan) want(c byte) error {
	if s.peek() != c {
		return s.errorf("want %q", c)
	}
	s.i++
	return nil
}

// null consumes a null literal if one is next.
func (s *scan) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// rawString consumes a string and returns its contents between the
// quotes, and whether they need decoding (escapes or non-ASCII bytes).
func (s *scan) rawString() (raw []byte, complex bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.errorf("want a string")
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], complex, nil
		case c == '\\':
			complex = true
			i++
			if i >= len(s.b) {
				break
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) || !isHex(s.b[i+1]) || !isHex(s.b[i+2]) || !isHex(s.b[i+3]) || !isHex(s.b[i+4]) {
					s.i = i
					return nil, false, s.errorf("bad \\u escape in a string")
				}
				i += 4
			default:
				s.i = i
				return nil, false, s.errorf("bad escape in a string")
			}
		case c < 0x20:
			s.i = i
			return nil, false, s.errorf("control character in a string")
		case c >= utf8.RuneSelf:
			complex = true
		}
	}
	s.i = len(s.b)
	return nil, false, s.errorf("unterminated string")
}

// strBytes consumes a string and returns it decoded; without escapes it
// is a slice of the message (valid until the next message).
func (s *scan) strBytes() ([]byte, error) {
	start := s.i
	raw, complex, err := s.rawString()
	if err != nil || !complex {
		return raw, err
	}
	if !bytesNeedDecoding(raw) {
		return raw, nil
	}
	var str string
	if err := json.Unmarshal(s.b[start:s.i], &str); err != nil {
		return nil, err
	}
	return []byte(str), nil
}

// str consumes a string and returns it decoded, as encoding/json would.
func (s *scan) str() (string, error) {
	start := s.i
	raw, complex, err := s.rawString()
	if err != nil {
		return "", err
	}
	if !complex || !bytesNeedDecoding(raw) {
		return string(raw), nil
	}
	var str string
	if err := json.Unmarshal(s.b[start:s.i], &str); err != nil {
		return "", err
	}
	return str, nil
}

// bytesNeedDecoding reports whether a string's contents have escapes or
// invalid UTF-8 (which encoding/json replaces).
func bytesNeedDecoding(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return !utf8.Valid(raw)
}

// number consumes a number and returns its text.
func (s *scan) number() ([]byte, error) {
	s.peek()
	start, i := s.i, s.i
	digits := func() bool {
		j := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	if i < len(s.b) && s.b[i] == '0' {
		i++
	} else if !digits() {
		return nil, s.errorf("want a number")
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if !digits() {
			return nil, s.errorf("bad number")
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, s.errorf("bad number")
		}
	}
	s.i = i
	return s.b[start:i], nil
}

// float consumes a number as encoding/json decodes it into an any.
func (s *scan) float() (float64, error) {
	n, err := s.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, s.errorf("number %s: %v", n, err)
	}
	return f, nil
}

func (s *scan) boolean() (bool, error) {
	switch {
	case s.literal("true"):
		return true, nil
	case s.literal("false"):
		return false, nil
	}
	return false, s.errorf("want a boolean")
}

func (s *scan) literal(lit string) bool {
	s.peek()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// object consumes an object, calling member with each key (valid until
// the next message; escapes decoded); member must consume the value.
func (s *scan) object(member func(key []byte) error) error {
	if err := s.want('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.strBytes()
		if err != nil {
			return err
		}
		if err := s.want(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("want , or } in an object")
		}
	}
}

// array consumes an array, calling elem for each element; elem must
// consume it.
func (s *scan) array(elem func() error) error {
	if err := s.want('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errorf("want , or ] in an array")
		}
	}
}

// value consumes any value and returns its text.
func (s *scan) value() ([]byte, error) {
	s.peek()
	start := s.i
	if err := s.skip(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// container consumes a value like value, but an object or array only to
// its closing bracket, without checking its syntax: only its strings and
// brackets are followed (as the framer does). checkJSON checks it.
func (s *scan) container() ([]byte, error) {
	if c := s.peek(); c != '{' && c != '[' {
		return s.value()
	}
	for len(s.spans) > 0 && s.spans[0].start < s.i {
		s.spans = s.spans[1:]
	}
	if len(s.spans) > 0 && s.spans[0].start == s.i && s.spans[0].end <= len(s.b) {
		start := s.i
		s.i = s.spans[0].end
		return s.b[start:s.i], nil
	}
	start, depth := s.i, 0
	for i := s.i; i < len(s.b); i++ {
		switch s.b[i] {
		case '"': // to the closing quote
			for i++; i < len(s.b); i += 2 {
				if i += stringRun(s.b[i:]); i >= len(s.b) || s.b[i] == '"' {
					break
				}
				// a backslash: the next byte is escaped
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				s.i = i + 1
				return s.b[start:s.i], nil
			}
		}
	}
	s.i = len(s.b)
	return nil, s.errorf("unterminated JSON value")
}

// checkJSON checks the syntax of one JSON value (empty: none).
func checkJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s := scan{b: b}
	if err := s.skip(0); err != nil {
		return err
	}
	return s.end()
}

var errTooDeep = errors.New("JSON nested too deeply")

// skip consumes any value, checking its syntax.
func (s *scan) skip(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() error { return s.skip(depth + 1) })
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := s.number()
		return err
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	default:
		return s.errorf("unexpected %q", c)
	}
}

// end checks that nothing but white space follows the value.
func (s *scan) end() error {
	if s.peek() != 0 || s.i < len(s.b) {
		return s.errorf("data after the JSON value")
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
