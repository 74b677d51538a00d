package controller

import (
	"fmt"
	"log/slog"
	"strings"
)

// natsLogger routes the embedded server's logs into slog so the controller
// has one structured log stream.
type natsLogger struct {
	l *slog.Logger
	// violation, when set, sees every error line so permission
	// violations can be audited.
	violation func(line string)
}

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any) {
	line := fmt.Sprintf(format, v...)
	n.l.Error(line)
	if n.violation != nil && strings.Contains(line, " Violation - ") {
		n.violation(line)
	}
}
func (n *natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
