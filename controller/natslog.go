package controller

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// natsLogger routes the embedded server's logs into slog so the controller
// has one structured log stream.
type natsLogger struct {
	l *slog.Logger
	// violation, when set, sees every error line so permission
	// violations can be audited.
	violation func(line string)
	// ready is set once the controller is ready. Until then the server's
	// notices (its banner: version, ports, JetStream limits, some 38
	// lines) go to debug, so the info log of a start is "controller
	// ready"; warnings and errors keep their level.
	ready atomic.Bool
}

func (n *natsLogger) Noticef(format string, v ...any) {
	if n.ready.Load() {
		n.l.Info(fmt.Sprintf(format, v...))
		return
	}
	n.l.Debug(fmt.Sprintf(format, v...))
}
func (n *natsLogger) Warnf(format string, v ...any)  { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Fatalf(format string, v ...any) { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any) {
	line := fmt.Sprintf(format, v...)
	n.l.Error(line)
	if n.violation != nil && strings.Contains(line, " Violation - ") {
		n.violation(line)
	}
}
func (n *natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
