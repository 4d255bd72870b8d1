// Package agentsvc is the collector's gRPC service for agents: it validates
// each report, converts it from the wire format to the domain (convert.go),
// hands it to the reconciliation engine and acknowledges its sequence only
// after the ingest transaction has committed. Domain errors map to gRPC
// status codes in one table (errors.go).
package agentsvc
