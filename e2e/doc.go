// Package e2e holds the gateway's end-to-end tests: each starts real department simulators
// and a whole gateway assembled by package app, then speaks HTTP to it as a consumer would.
// The harness that starts one (Start, StartWith) and reads its answers (Resp) is exported so
// that the tests of the gateway command in cmd/gateway, which need the command's own flags
// and subcommands, build on the same gateway. The slow tests skip under -short.
package e2e
