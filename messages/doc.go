// Package messages is the only contract between the controller, the agents
// and the CLI: subject names, the signed command envelope, payload types,
// error codes and bounded decoders.
//
// It imports nothing else from this project so that both sides can be
// versioned against it alone. Every subject is built here by a function that
// rejects bad tokens, so no caller ever concatenates subjects by hand.
package messages
