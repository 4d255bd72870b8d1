// Package e2e holds the tests that cross the whole product: the
// architecture rules of DESIGN.md, and the real binaries talking over
// loopback.
package e2e
