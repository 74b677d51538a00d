// Package openbao is a TEST DOUBLE of an OpenBAO server. IT IS NOT OPENBAO.
//
// ******************************************************************
// *  TEST DOUBLE — FOR TESTS ONLY — PRODUCTION CODE MUST NEVER     *
// *  IMPORT THIS PACKAGE, AND ITS BINARY MUST NEVER GUARD REAL     *
// *  SECRETS: IT STORES THEM IN PLAIN JSON.                        *
// ******************************************************************
//
// The real OpenBAO server cannot be installed on the machines Foundry's
// tests run on, so this package imitates the small part of its HTTP API
// that Foundry calls, and its binary stands in for `bao` on test hosts. It
// was written from OpenBAO's (and Vault's, whose API OpenBAO keeps)
// published HTTP API documentation, not from OpenBAO's source, and it only
// approximates the real server: its "unseal keys" are random bytes whose
// SHA-256 is compared (no Shamir secret sharing, no encryption: stored
// data is plain JSON), and its policies are a simplified path-glob model.
// Tests that pass against it show that Foundry speaks the documented
// protocol; they do not prove OpenBAO behaves the same. Re-run the e2e
// suite against a real OpenBAO when one is available.
//
// What it implements (and nothing else):
//
//   - KV v2 on any mount enabled as kv version 2:
//     GET/POST/PUT /v1/<mount>/data/<path> (with options.cas),
//     LIST and GET ?list=true /v1/<mount>/metadata/<path>,
//     GET and DELETE /v1/<mount>/metadata/<path>.
//   - POST /v1/sys/mounts/<path> with type kv and options.version 2.
//   - GET /v1/auth/token/lookup-self.
//   - GET/HEAD /v1/sys/health with the documented status codes (200
//     active, 501 not initialised, 503 sealed) and their *code overrides.
//   - GET /v1/sys/seal-status, GET/PUT /v1/sys/init, PUT /v1/sys/unseal.
//     Health and seal-status report the version set with SetVersion.
//   - X-Vault-Token (or Authorization: Bearer) authentication: a missing or
//     unknown token gets 403 {"errors":["permission denied"]}; every
//     non-sys request on a sealed or uninitialised server gets 503.
//   - Per-token policies: rules of a path (exact, or a prefix ending in
//     '*') and capabilities (create, read, update, delete, list, sudo,
//     deny); the union of matching rules applies and "deny" wins.
//   - Raft membership only (EnableRaft, JoinRaft): GET
//     /v1/sys/storage/raft/configuration lists the members (node_id,
//     address, leader, voter); a follower joined with JoinRaft stays
//     uninitialised until the leader's unseal keys are PUT to its
//     /v1/sys/unseal, then joins. No data is replicated.
//   - Persistence, for a server made with Open(dir) (storage "file"): all
//     state — initialised flag, SHA-256 of each unseal key share, tokens
//     and their policies, mounts, KV data and metadata — is one JSON file,
//     StateFile, in dir (created 0700), rewritten atomically (temp file,
//     fsync, rename, mode 0600) after every change. A server opened on an
//     existing state file is initialised and sealed, as OpenBAO is after a
//     restart, until enough unseal keys are PUT to /v1/sys/unseal.
//
// Use New for a fresh, uninitialised in-memory server (as after installing
// OpenBAO), NewDev for one that is initialised, unsealed, and has KV v2
// at "secret/" (like `bao server -dev`), or Open for one that persists.
//
// The standalone binary is e2e/doubles/openbao/cmd/openbao-double:
//
//   - `openbao-double server -config=FILE` (or -config FILE) runs like
//     `bao server`, reading the HCL subset ParseConfig documents: ui,
//     disable_mlock, one listener "tcp" (address, tls_disable = true) and
//     one storage "file" (path) or "inmem". Anything else is an error
//     naming its line. It tells systemd READY=1 once listening (when
//     NOTIFY_SOCKET is set), ignores SIGHUP, and on SIGTERM or SIGINT shuts
//     down and exits 0.
//   - `openbao-double version` prints "OpenBAO v<version> (TEST DOUBLE)".
//     The version (default 2.1.0) is set at build time with
//     -ldflags "-X main.version=2.2.0" and also reported by the server.
//   - `openbao-double [-addr A] [-dev-root-token T]` is the original
//     in-memory mode.
package openbao
