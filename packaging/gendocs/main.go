// Command gendocs writes foundry's generated reference: `make docs` runs it
// for docs/cli, `make package` for the man pages and completions in the
// .deb.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/foundry-fleet/foundry/packaging/clidocs"
)

func main() {
	md := flag.String("markdown", "", "write one Markdown page per command into this directory")
	man := flag.String("man", "", "write man pages into this directory")
	comp := flag.String("completions", "", "write bash, zsh and fish completions under this directory")
	epoch := flag.String("date", os.Getenv("SOURCE_DATE_EPOCH"), "man page date as Unix seconds (default $SOURCE_DATE_EPOCH)")
	flag.Parse()
	for _, k := range clidocs.EnvDefaults {
		os.Unsetenv(k)
	}
	if err := run(*md, *man, *comp, *epoch); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(md, man, comp, epoch string) error {
	cmd := clidocs.Tree()
	if md != "" {
		if err := clidocs.Markdown(cmd, md); err != nil {
			return err
		}
	}
	if man != "" {
		secs, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("man pages need a date: pass --date or set SOURCE_DATE_EPOCH to Unix seconds (for example the commit's time)")
		}
		if err := clidocs.Man(cmd, man, time.Unix(secs, 0)); err != nil {
			return err
		}
	}
	if comp != "" {
		return clidocs.Completions(cmd, comp)
	}
	return nil
}
