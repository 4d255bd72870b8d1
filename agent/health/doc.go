// Package health turns an inventory into typed health events for incident
// automation: a filesystem over its usage threshold, a failed systemd unit,
// a disk whose SMART self-assessment failed (where smartctl can read it).
// A Monitor remembers the open problems and reports transitions only: a new
// problem once (ok=false), and its recovery once (ok=true).
package health
