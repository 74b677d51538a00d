//go:build !unix

package ssh

import "os"

// lockFile is a no-op where flock does not exist; the in-process mutex still
// serializes writers within one process.
func lockFile(*os.File) error { return nil }
