// Package config loads, validates, selects, renders and creates Foundry's
// stack configuration, ~/.foundry/<name>.yaml: the desired state of one
// stack (cluster nodes, component versions and settings, storage, and how
// Foundry itself reaches its controller and OpenBAO).
//
// Loading goes through yaml.Node so every problem carries file, line and
// column, and Validate reports all problems at once, each as
// "file:line:col: what is wrong; what to change". Components are typed
// structs, never map[string]interface{}, so a misspelt setting is an error
// rather than a silently ignored key. Secret values never live here: the
// config holds ${secret:path:key} references (see controller/secrets),
// and `config show` prints references, never values.
package config
