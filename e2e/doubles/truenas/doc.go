// Package truenas is a TEST DOUBLE of the TrueNAS REST API v2.0. IT IS NOT
// TRUENAS.
//
// ******************************************************************
// *  TEST DOUBLE — FOR TESTS ONLY — PRODUCTION CODE MUST NEVER     *
// *  IMPORT THIS PACKAGE. IT STORES NOTHING ON DISK AND MANAGES    *
// *  NO REAL STORAGE: POOLS AND DATASETS ARE ENTRIES IN A MAP.     *
// ******************************************************************
//
// TrueNAS is an appliance that cannot run on the machines Foundry's tests
// run on, so this package imitates the few endpoints Foundry's storage
// commands call, with the JSON shapes TrueNAS (SCALE) documents for them.
// It was written from TrueNAS's published API documentation and the
// middleware's API models, not from a running TrueNAS, and it only
// approximates the real server: sizes are whatever the test says, used
// space does not add up through the dataset tree, and error bodies follow
// the middleware's documented forms without every field. Tests that pass
// against it show that Foundry speaks the documented protocol; they do not
// prove TrueNAS behaves the same.
//
// What it implements (and nothing else), under /api/v2.0:
//
//   - GET /system/info: version, hostname, uptime_seconds, physmem, cores.
//   - GET /pool: id, name, guid, path, status, healthy, size, allocated,
//     free (bytes).
//   - GET /pool/dataset: the flat list of datasets (TrueNAS's default), each
//     with id, name, pool, type (FILESYSTEM or VOLUME), mountpoint,
//     children, and used, available (and volsize for a VOLUME) as ZFS
//     property objects {parsed, rawvalue, value, source, source_info}.
//   - POST /pool/dataset {"name", "type", "volsize"}: creates a dataset
//     under an existing parent and returns it; a missing parent, an
//     existing name or a VOLUME without volsize is 422 with the
//     middleware's validation-error body
//     {"pool_dataset_create.<field>": [{"message", "errno"}]}.
//   - DELETE /pool/dataset/id/<id, URL-encoded> (optional
//     {"recursive": true}): returns true; a dataset with children and no
//     recursive flag, or an unknown one, is 422 {"message", "errno"}.
//   - GET /sharing/nfs: id, path, comment, networks, hosts, ro, enabled,
//     locked.
//   - Authentication: "Authorization: Bearer <API key>". A missing or
//     unknown key is 401 with the body "401: Unauthorized". A key added
//     with ReadOnly may call every GET; POST and DELETE with it are 403
//     {"message": "Not authorized", "errno": 13}, as TrueNAS answers a key
//     whose user lacks the role for a write.
//   - Anything else is 404 "404: Not Found".
//
// Use New for an empty server and Sample for one with a pool, a few
// datasets, a zvol and an NFS share. Serve it with httptest.NewTLSServer
// (s.Handler()) to test TLS the way a real TrueNAS is reached.
package truenas
