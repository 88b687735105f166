// Package rpc owns nva's OVSDB sessions: the stream to one database server
// (tcp:HOST:PORT, ssl:HOST:PORT, unix:PATH) and the JSON-RPC 1.0 dialogue of
// RFC 7047 on it. It matches concurrent requests (get_schema, monitor,
// transact, echo) to their responses by id, answers the server's echo
// requests, probes an idle server with its own echo and gives up on a
// server that stays silent, and keeps, per monitor, the monitored rows
// decoded into model structs (only the monitored columns), replacing them
// update by update so a reader never sees half of one.
//
// libovsdb provides the wire types (Operation, OperationResult, Row,
// DatabaseSchema) and the model/mapper that define the row structs; the
// connection, its goroutine, its buffers, its cache and the hot codecs
// are this package's. A message is framed and decoded in one pass
// (scan.go, decode.go): a monitor's rows go straight from the JSON into
// their structs, only the monitored tables and columns, with libovsdb's
// semantics (tested against Row.UnmarshalJSON and model.CreateModel);
// requests are encoded in one pass too (encode.go, json.Marshal's bytes).
// Cached rows share what repeats: a reference is the string of the row it
// names, and equal short strings and small maps are shared between the
// sessions of one schema (Models.Schema), as are the row decoders. A
// session costs its rows, one reading goroutine, the framer's buffer and a
// timer: there is no fixed-size event queue.
package rpc
