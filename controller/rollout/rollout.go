// Package rollout runs a fleet command in batches: a first batch, a pause,
// the next batch, and so on, stopping as soon as more hosts have failed
// than the operator allowed. It knows nothing about NATS or commands: the
// caller passes a step function that runs one batch and says, host by
// host, how it went.
//
// Flags map to it directly:
//
//	--batch 10 | 25%           ParseBatch, then Plan
//	--batch-wait 30s           Run's batchWait
//	--max-failures 3 | 10%     ParseMaxFailures
package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Batch is a batch size: a number of hosts, or a percentage of the hosts
// in the rollout. Its zero value means "all hosts in one batch".
type Batch struct {
	n       int
	percent int
}

// Hosts is how many hosts each batch holds for a rollout over total hosts:
// a percentage is rounded up, and a batch is never empty.
func (b Batch) Hosts(total int) int {
	switch {
	case total <= 0:
		return 0
	case b.percent > 0:
		return max(1, int(math.Ceil(float64(total)*float64(b.percent)/100)))
	case b.n > 0:
		return min(b.n, total)
	}
	return total
}

func (b Batch) String() string {
	switch {
	case b.percent > 0:
		return strconv.Itoa(b.percent) + "%"
	case b.n > 0:
		return strconv.Itoa(b.n)
	}
	return "100%"
}

// MaxFailures is how many failed hosts a rollout tolerates: a count, or a
// percentage of the hosts in the rollout. The rollout stops when failures
// exceed it. Its zero value tolerates none: the first failure stops.
type MaxFailures struct {
	n       int
	percent int
}

// Allowed is how many failures are tolerated in a rollout over total
// hosts; a percentage is rounded down, so 10% of 15 hosts is 1.
func (m MaxFailures) Allowed(total int) int {
	if m.percent > 0 {
		return total * m.percent / 100
	}
	return m.n
}

func (m MaxFailures) String() string {
	if m.percent > 0 {
		return strconv.Itoa(m.percent) + "%"
	}
	return strconv.Itoa(m.n)
}

// ErrInvalid is wrapped by every refusal of ParseBatch and
// ParseMaxFailures, so a CLI can map them to a usage error.
var ErrInvalid = errors.New("invalid rollout setting")

// ParseBatch reads --batch: a whole number of hosts ("10") or a whole
// percentage of the targeted hosts ("25%").
func ParseBatch(s string) (Batch, error) {
	n, pct, err := parseAmount(s, "--batch", "10 (hosts per batch) or 25% (of the targeted hosts)",
		"a batch of 0 hosts would never finish; use 1 for one host at a time")
	if err != nil {
		return Batch{}, err
	}
	if pct {
		return Batch{percent: n}, nil
	}
	return Batch{n: n}, nil
}

// ParseMaxFailures reads --max-failures: a whole number of hosts ("3") or
// a whole percentage of the targeted hosts ("10%").
func ParseMaxFailures(s string) (MaxFailures, error) {
	n, pct, err := parseAmount(s, "--max-failures", "3 (failed hosts) or 10% (of the targeted hosts)",
		"leave --max-failures out to stop at the first failure (the default)")
	if err != nil {
		return MaxFailures{}, err
	}
	if pct {
		return MaxFailures{percent: n}, nil
	}
	return MaxFailures{n: n}, nil
}

// parseAmount reads "N" or "N%" with 1 <= N (and N <= 100 for a
// percentage); example is what to type instead, zero what to do instead
// of 0.
func parseAmount(s, flag, example, zero string) (int, bool, error) {
	in := strings.TrimSpace(s)
	num, pct := strings.CutSuffix(in, "%")
	num = strings.TrimSpace(num)
	bad := func(why string) error {
		return fmt.Errorf("%w: %s %q %s; give %s", ErrInvalid, flag, s, why, example)
	}
	if num == "" {
		return 0, false, bad("is empty")
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, false, bad("is too large")
		}
		if _, ferr := strconv.ParseFloat(num, 64); ferr == nil {
			return 0, false, bad("is not a whole number")
		}
		return 0, false, bad("is not a number")
	}
	switch {
	case n < 0:
		return 0, false, bad("is negative")
	case n == 0:
		return 0, false, fmt.Errorf("%w: %s %q: %s; or give %s", ErrInvalid, flag, s, zero, example)
	case pct && n > 100:
		return 0, false, bad("is more than 100%")
	}
	return n, pct, nil
}

// Plan splits hosts into batches of b's size, keeping their order.
func Plan(hosts []string, b Batch) [][]string {
	size := b.Hosts(len(hosts))
	var out [][]string
	for i := 0; i < len(hosts); i += size {
		out = append(out, hosts[i:min(i+size, len(hosts))])
	}
	return out
}

// StepFunc runs one batch and returns an entry for every host of the
// batch: nil for success, the error otherwise. A host with no entry counts
// as failed with ErrNoResult, so a step that lost track of a host cannot
// let the rollout carry on as if it had succeeded.
type StepFunc func(ctx context.Context, batch []string) map[string]error

// ErrNoResult is the failure of a host the step reported nothing for.
var ErrNoResult = errors.New("no result reported for this host")

// Failure is one failed host.
type Failure struct {
	Host string
	Err  error
}

// Report says what happened to every host of the plan: each is in exactly
// one of Succeeded, Failed and NotStarted, and Ran is Succeeded and Failed
// in plan order.
type Report struct {
	Ran        []string
	Succeeded  []string
	Failed     []Failure
	NotStarted []string
	// Batches is how many batches ran.
	Batches int
	// Allowed is how many failures were tolerated.
	Allowed int
	// Stopped says why the rollout stopped: too many failures (even when
	// that happened in the last batch) or cancellation. It is "" when every
	// batch ran within the failure budget.
	Stopped string
	// Err is ctx's error when the rollout was cancelled, else nil.
	Err error
}

// OK reports whether every batch ran within the failure budget.
func (r Report) OK() bool { return r.Stopped == "" }

// Runner runs plans. Its zero value waits with a real timer; tests set
// Wait to observe or skip the pauses.
type Runner struct {
	// Wait pauses for d between batches and returns early with ctx's error
	// when ctx ends.
	Wait func(ctx context.Context, d time.Duration) error
}

// Run runs plan with the zero Runner.
func Run(ctx context.Context, plan [][]string, batchWait time.Duration, maxFailures MaxFailures, step StepFunc) Report {
	return Runner{}.Run(ctx, plan, batchWait, maxFailures, step)
}

// Run runs the batches in order, pausing batchWait between two batches.
// After each batch it stops if more hosts have failed than maxFailures
// allows; when ctx ends it stops before the next batch (a batch already
// running gets ctx and should stop early itself).
func (r Runner) Run(ctx context.Context, plan [][]string, batchWait time.Duration, maxFailures MaxFailures, step StepFunc) Report {
	wait := r.Wait
	if wait == nil {
		wait = sleep
	}
	total := 0
	for _, b := range plan {
		total += len(b)
	}
	rep := Report{Allowed: maxFailures.Allowed(total)}
	stop := func(from int, why string) Report {
		for _, b := range plan[from:] {
			rep.NotStarted = append(rep.NotStarted, b...)
		}
		rep.Stopped = why
		return rep
	}
	for i, batch := range plan {
		if i > 0 && batchWait > 0 {
			if err := wait(ctx, batchWait); err != nil {
				rep.Err = err
				return stop(i, "cancelled while waiting between batches: "+err.Error())
			}
		}
		if err := ctx.Err(); err != nil {
			rep.Err = err
			return stop(i, "cancelled: "+err.Error())
		}
		results := step(ctx, batch)
		rep.Batches++
		for _, h := range batch {
			rep.Ran = append(rep.Ran, h)
			err, ok := results[h]
			if !ok {
				err = ErrNoResult
			}
			if err != nil {
				rep.Failed = append(rep.Failed, Failure{Host: h, Err: err})
			} else {
				rep.Succeeded = append(rep.Succeeded, h)
			}
		}
		if len(rep.Failed) > rep.Allowed {
			return stop(i+1, fmt.Sprintf("%d hosts failed, more than the %d allowed", len(rep.Failed), rep.Allowed))
		}
	}
	return rep
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
