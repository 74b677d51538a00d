package cmdutil

import (
	"errors"
	"strings"

	"github.com/foundry-fleet/foundry/controller/target"
)

// CheckWhere parses a --where expression before anything is contacted. A
// mistake comes back as a usage error that shows the expression with a
// caret under the position, the form docs/targeting.md shows:
//
//	Error: --where: position 17: expected a value after "="
//	  role=web and os=
//	                  ^
func CheckWhere(expr string) error {
	if expr == "" {
		return nil
	}
	_, err := target.Parse(expr)
	if err == nil {
		return nil
	}
	var se *target.SyntaxError
	if !errors.As(err, &se) {
		return &FlagError{Err: errors.New("--where: " + err.Error())}
	}
	caret := "  " + strings.ReplaceAll(se.Caret(), "\n", "\n  ")
	return &FlagError{Err: errors.New("--where: " + se.Error() + "\n" + caret)}
}
