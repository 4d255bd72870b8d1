// Package agent is the endpoint runtime behind parc-agent: it gathers the
// inventory (package gather), turns it into FULL, DELTA or HEARTBEAT reports
// (package delta), writes each report to an on-disk spool before sending it
// (package spool), and drains the spool to the collector over one Report
// stream (package uplink), removing a report only once its Ack arrives.
//
// Identity: the agent id lives in the state directory (a random id made on
// first start, to be replaced by enrollment); the boot id is new for every
// process start; sequences start at 1 for every boot id.
package agent
