// Package enroll gives the agent its identity: on first start it trades an
// enrollment token and a CSR for a client certificate (the token pins the
// collector's CA, so there is no trust on first use), keeps the key, the
// certificate and the CA in the state directory (mode 0600), renews the
// certificate before it expires, and provides the TLS credentials that the
// uplink dials with. An enrolled agent restarts with its state directory
// alone.
package enroll
