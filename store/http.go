package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/nva-project/nva/app/model"
)

// Member API paths (served on the cluster port, see member.go).
const (
	pathApply     = "/internal/v1/apply"
	pathReadIndex = "/internal/v1/read-index"
	pathJoin      = "/internal/v1/join"
	pathRemove    = "/internal/v1/remove"
	pathStatus    = "/internal/v1/status"

	// headerForwarded marks a request forwarded by another node: the
	// receiver handles it only as the leader and never forwards it again.
	headerForwarded = "X-Nva-Forwarded-By"

	// maxInternalBody bounds a forwarded batch command and any answer: a
	// batch of MaxBatchItems objects (the REST API takes up to 32 MiB of
	// them).
	maxInternalBody = 64 << 20
	// maxCommandBody bounds any other forwarded command: one object, as
	// the REST API's 1 MiB body limit.
	maxCommandBody = 1 << 20
	// maxIgnorableCommand bounds a command with the ignore-if-unknown
	// flag: every node appends and replicates it even when none can
	// decode it, so only small ones (a newer node's forward during a
	// rolling upgrade) are taken.
	maxIgnorableCommand = 4 << 10
	// maxNodeBody bounds a join or remove request.
	maxNodeBody = 64 << 10
)

// wireError is the body of every non-2xx internal response.
type wireError struct {
	Message  string `json:"message"`
	NoLeader bool   `json:"no_leader,omitempty"`
	// MaybeApplied: the command reached the leader's log before the
	// failure and may still be committed.
	MaybeApplied bool         `json:"maybe_applied,omitempty"`
	Domain       *model.Error `json:"domain,omitempty"`
}

// readIndexResponse answers read-index, join and remove: the index the
// caller should wait for.
type readIndexResponse struct {
	Index uint64 `json:"index"`
}

// Status is what /internal/v1/status reports about one node.
type Status struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	// LastIndex is the last entry of the node's raft log: the leader
	// promotes a non-voter once it is close to the leader's.
	LastIndex uint64 `json:"last_index"`
}

// InternalHandler serves the node-to-node API under /internal/v1/: apply
// (a forwarded write, leader only), read-index (leader only), join and
// remove (forwarded to the leader unless already forwarded) and status.
// It authenticates nobody: the store serves it on its cluster port behind
// memberAuth (member.go); never mount it on a client-facing listener.
func (s *Store) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathApply, s.handleApply)
	mux.HandleFunc("GET "+pathReadIndex, s.handleReadIndex)
	mux.HandleFunc("POST "+pathJoin, s.handleJoin)
	mux.HandleFunc("POST "+pathRemove, s.handleRemove)
	mux.HandleFunc("GET "+pathStatus, s.handleStatus)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func statusForKind(k model.ErrorKind) int {
	switch k {
	case model.KindNotFound:
		return http.StatusNotFound
	case model.KindConflict:
		return http.StatusConflict
	default:
		return http.StatusUnprocessableEntity
	}
}

// writeError maps an error onto the internal wire format.
func (s *Store) writeError(w http.ResponseWriter, err error) {
	if e, ok := model.AsError(err); ok {
		writeJSON(w, statusForKind(e.Kind), wireError{Message: e.Error(), Domain: e})
		return
	}
	if retryable(err) || errors.Is(err, ErrNoLeader) {
		writeJSON(w, http.StatusServiceUnavailable, wireError{Message: err.Error(), NoLeader: true, MaybeApplied: maybeApplied(err)})
		return
	}
	// A halted node is no usable leader: the caller retries elsewhere.
	var fatal *FatalError
	if errors.Is(err, ErrClosed) || errors.As(err, &fatal) {
		writeJSON(w, http.StatusServiceUnavailable, wireError{Message: err.Error(), NoLeader: true})
		return
	}
	writeJSON(w, http.StatusInternalServerError, wireError{Message: err.Error()})
}

func (s *Store) handleApply(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxInternalBody+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, wireError{Message: "read command: " + err.Error()})
		return
	}
	if len(data) > maxInternalBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, wireError{Message: "command too large"})
		return
	}
	if err := checkCommandSize(data); err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, wireError{Message: err.Error()})
		return
	}
	if _, err := decodeCommand(data); err != nil && !errors.Is(err, errSkipCommand) {
		writeJSON(w, http.StatusBadRequest, wireError{Message: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
	defer cancel()
	res, err := s.applyAsLeader(ctx, data)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Store) handleReadIndex(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
	defer cancel()
	idx, err := s.leaderReadIndex(ctx)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, readIndexResponse{Index: idx})
}

// checkCommandSize refuses a forwarded command larger than its kind may
// be: ignorable ones beyond maxIgnorableCommand, batches beyond
// maxInternalBody, anything else beyond maxCommandBody.
func checkCommandSize(data []byte) error {
	if len(data) == 0 {
		return nil // decodeCommand says what is wrong
	}
	t := cmdType(data[0])
	switch {
	case t&flagIgnoreUnknown != 0 && len(data) > maxIgnorableCommand:
		return fmt.Errorf("command %s with the ignore-if-unknown flag is %d bytes; at most %d are taken", t, len(data), maxIgnorableCommand)
	case t&^flagIgnoreUnknown == cmdBatch:
		return nil // bounded by the read
	case len(data) > maxCommandBody:
		return fmt.Errorf("command %s is %d bytes; at most %d are taken", t, len(data), maxCommandBody)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return b
}

func decodeNode(w http.ResponseWriter, r *http.Request) (NodeInfo, bool) {
	var n NodeInfo
	dec := json.NewDecoder(io.LimitReader(r.Body, maxNodeBody))
	if err := dec.Decode(&n); err != nil {
		writeJSON(w, http.StatusBadRequest, wireError{Message: "decode node: " + err.Error()})
		return n, false
	}
	return n, true
}

func (s *Store) handleJoin(w http.ResponseWriter, r *http.Request) {
	n, ok := decodeNode(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
	defer cancel()
	var idx uint64
	var err error
	if r.Header.Get(headerForwarded) != "" {
		idx, err = s.joinAsLeader(ctx, n)
	} else {
		idx, err = s.join(ctx, n)
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, readIndexResponse{Index: idx})
}

func (s *Store) handleRemove(w http.ResponseWriter, r *http.Request) {
	n, ok := decodeNode(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
	defer cancel()
	var idx uint64
	var err error
	if r.Header.Get(headerForwarded) != "" {
		idx, err = s.removeAsLeader(ctx, n.ID)
	} else {
		idx, err = s.remove(ctx, n.ID)
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, readIndexResponse{Index: idx})
}

func (s *Store) handleStatus(w http.ResponseWriter, r *http.Request) {
	_, lid := s.raft.LeaderWithID()
	writeJSON(w, http.StatusOK, Status{
		ID:           s.cfg.NodeID,
		State:        raftStateName(s.raft.State()),
		Term:         s.raft.CurrentTerm(),
		Leader:       string(lid),
		AppliedIndex: s.AppliedIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		LastIndex:    s.raft.LastIndex(),
	})
}

// --- client side ---

// do sends one internal request and decodes a 2xx JSON answer into out (if
// not nil). Transport failures and 503 are retryable (errRetry); domain
// errors come back as *model.Error.
func doInternal(ctx context.Context, client *http.Client, from, token, method, url, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("internal request %s: %w", url, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if from != "" {
		req.Header.Set(headerForwarded, from)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return errRetry{fmt.Errorf("%s %s: %w", method, url, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxInternalBody))
	if err != nil {
		return errRetry{fmt.Errorf("%s %s: read response: %w", method, url, err)}
	}
	if resp.StatusCode/100 == 2 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, url, err)
		}
		return nil
	}
	var we wireError
	_ = json.Unmarshal(raw, &we)
	if we.Domain != nil {
		return we.Domain
	}
	msg := we.Message
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
	}
	err = fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
	if we.MaybeApplied {
		return errMaybeApplied{err}
	}
	if resp.StatusCode == http.StatusServiceUnavailable || we.NoLeader {
		return errRetry{err}
	}
	return err
}

func joinURL(api, path string) string { return strings.TrimRight(api, "/") + path }

func (s *Store) forwardApply(ctx context.Context, api string, data []byte) (*result, error) {
	var res result
	if err := doInternal(ctx, s.client, s.cfg.NodeID, s.cfg.MemberToken, http.MethodPost, joinURL(api, pathApply), "application/octet-stream", data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (s *Store) forwardReadIndex(ctx context.Context, api string) (uint64, error) {
	var ri readIndexResponse
	if err := doInternal(ctx, s.client, s.cfg.NodeID, s.cfg.MemberToken, http.MethodGet, joinURL(api, pathReadIndex), "", nil, &ri); err != nil {
		return 0, err
	}
	return ri.Index, nil
}

// forwardJSON posts v to the leader's internal endpoint and returns the
// index of the change it made.
func (s *Store) forwardJSON(ctx context.Context, api, path string, v any) (uint64, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var ri readIndexResponse
	err = doInternal(ctx, s.client, s.cfg.NodeID, s.cfg.MemberToken, http.MethodPost, joinURL(api, path), "application/json", body, &ri)
	return ri.Index, err
}

func (s *Store) probeStatus(ctx context.Context, api string) (Status, error) {
	var st Status
	err := doInternal(ctx, s.client, "", s.cfg.MemberToken, http.MethodGet, joinURL(api, pathStatus), "", nil, &st)
	return st, err
}
