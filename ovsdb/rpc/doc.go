// Package rpc owns nva's OVSDB sessions: the stream to one database server
// (tcp:HOST:PORT, ssl:HOST:PORT, unix:PATH) and the JSON-RPC 1.0 dialogue of
// RFC 7047 on it. It matches concurrent requests (get_schema, monitor,
// transact, echo) to their responses by id, answers the server's echo
// requests, probes an idle server with its own echo and gives up on a
// server that stays silent, and keeps, per monitor, the monitored rows
// decoded into model structs (only the monitored columns), replacing them
// update by update so a reader never sees half of one.
//
// libovsdb provides the wire types and their JSON codecs (Operation,
// OperationResult, TableUpdates, Row, DatabaseSchema) and the model/mapper
// that turn rows into generated structs; the connection, its goroutine,
// its buffers and its cache are this package's. A session costs its rows,
// one reading goroutine, the JSON decoder's buffer and a timer: there is no
// fixed-size event queue.
package rpc
