package controller

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// natsLogger routes the embedded server's logs into slog so the controller
// has one structured log stream.
type natsLogger struct {
	l *slog.Logger
	// violation, when set, sees every error line so permission
	// violations can be audited.
	violation func(line string)
	// violations rate-limits the logging (not the auditing) of
	// violation lines; nil logs every one.
	violations *violationLog
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
	if !strings.Contains(line, " Violation - ") {
		n.l.Error(line)
		return
	}
	if n.violations == nil {
		n.l.Error(line)
	} else {
		ok, closed := n.violations.allow(violationKey(line), time.Now())
		n.logSuppressed(closed)
		if ok {
			n.l.Error(line)
		}
	}
	if n.violation != nil {
		n.violation(line)
	}
}

// flushViolations sums up violations not logged in a window that closed.
func (n *natsLogger) flushViolations(now time.Time) {
	if n.violations != nil {
		n.logSuppressed(n.violations.flush(now))
	}
}

func (n *natsLogger) logSuppressed(closed map[string]int) {
	for key, count := range closed {
		n.l.Warn("permission violations not logged one by one", "connection", key, "count", count, "window", violationWindow)
	}
}
func (n *natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
