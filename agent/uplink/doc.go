// Package uplink is the agent's gRPC client of the collector's AgentService.
//
// How the connection is secured is one seam: Config.Credentials (nil means
// plaintext, the only mode before enrollment and mTLS exist) plus
// Config.DialOptions for anything else (tests dial a bufconn listener
// through it). A Stream carries reports out and acks back; Deliver sends one
// report and waits for the Ack of its (boot_id, sequence).
package uplink
