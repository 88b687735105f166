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
// names, and equal short strings, small maps and the values of optional
// columns are shared between the sessions of one schema (Models.Schema),
// as are the row decoders and the encoded monitor request; a table's rows
// are kept in slices sorted by UUID. A session costs its rows, one reading
// goroutine and a 512-byte idle buffer: a message larger than that is
// read into a buffer lent by Buffers (shared by a manager's sessions) and
// given back once framed, and there is no fixed-size event queue. Each
// message is scanned once where that is possible: a response's result is
// checked where it is decoded, the framer tells the parser where the
// message's members end, and a schema the session's Models already has is
// recognized by its bytes.
package rpc
