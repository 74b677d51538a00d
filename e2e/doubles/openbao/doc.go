// Package openbao is a TEST DOUBLE of an OpenBAO server. IT IS NOT OPENBAO.
//
// ******************************************************************
// *  TEST DOUBLE — FOR TESTS ONLY — PRODUCTION CODE MUST NEVER     *
// *  IMPORT THIS PACKAGE.                                          *
// ******************************************************************
//
// The real OpenBAO server cannot be installed on the machines Foundry's
// tests run on, so this package imitates the small part of its HTTP API
// that Foundry calls. It was written from OpenBAO's (and Vault's, whose
// API OpenBAO keeps) published HTTP API documentation, not from OpenBAO's
// source, and it only approximates the real server: it stores everything
// in memory, its "unseal keys" are random bytes compared for equality
// (no Shamir secret sharing, no encryption), and its policies are a
// simplified path-glob model. Tests that pass against it show that Foundry
// speaks the documented protocol; they do not prove OpenBAO behaves the
// same. Re-run the e2e suite against a real OpenBAO when one is available.
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
//   - X-Vault-Token (or Authorization: Bearer) authentication: a missing or
//     unknown token gets 403 {"errors":["permission denied"]}; every
//     non-sys request on a sealed or uninitialised server gets 503.
//   - Per-token policies: rules of a path (exact, or a prefix ending in
//     '*') and capabilities (create, read, update, delete, list, sudo,
//     deny); the union of matching rules applies and "deny" wins.
//
// Use New for a fresh, uninitialised server (as after installing
// OpenBAO), or NewDev for one that is initialised, unsealed, and has KV v2
// at "secret/" (like `bao server -dev`). The standalone binary is
// e2e/doubles/openbao/cmd/openbao-double.
package openbao
