// Package enroll is the collector's trust anchor for agents: the CA
// (generated on first start and kept in the store so every collector of a
// cluster shares it, or supplied by the operator), enrollment tokens
// (stored hashed, with an expiry, a use count and revocation), the exchange
// of a token and a CSR for a client certificate whose identity is the agent
// id, renewal, revocation, and the agent registry behind `parc agent list`.
//
// It also holds the gRPC seams of the agent port: transport credentials
// that accept TLS (and recognise plaintext so it can be refused with a
// clear status), interceptors that require a verified, unrevoked client
// certificate on every method but Enroll, a per-agent rate limit and
// deadlines.
//
// Keys: en/ca (the CA), en/tok/<id> (tokens), en/agent/<id> (certificates
// issued and revocation).
package enroll
