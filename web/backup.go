package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/nva-project/nva/web/wire"
)

// Backuper writes a consistent backup of the store (store.Store.WriteBackup).
type Backuper interface {
	WriteBackup(ctx context.Context, w io.Writer) (revision uint64, err error)
}

// handleBackup serves GET /api/v1/snapshot: a consistent backup of the
// whole store (every tenant's objects): cluster admin only (the
// authorization table marks it so). The body is the store's snapshot
// stream; X-Nva-Revision is its revision. Restore it into a new cluster
// with `nva restore`.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if s.backup == nil {
		writeError(w, newAPIError(http.StatusNotImplemented, wire.CodeNotImplemented, "", "this node has no backup support"))
		return
	}
	var buf bytes.Buffer
	rev, err := s.backup.WriteBackup(r.Context(), &buf)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="nva-backup-`+strconv.FormatUint(rev, 10)+`.ndjson"`)
	w.Header().Set("X-Nva-Revision", strconv.FormatUint(rev, 10))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = buf.WriteTo(w)
}
