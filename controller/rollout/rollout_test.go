package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func hosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("h%d", i+1)
	}
	return out
}

func TestParseBatch(t *testing.T) {
	for _, tc := range []struct {
		in    string
		total int
		want  int
	}{
		{"10", 100, 10},
		{"10", 4, 4},
		{" 3 ", 10, 3},
		{"25%", 10, 3}, // rounded up
		{"25%", 100, 25},
		{"1%", 10, 1}, // never empty
		{"100%", 7, 7},
		{"50 %", 4, 2},
	} {
		b, err := ParseBatch(tc.in)
		if err != nil {
			t.Errorf("ParseBatch(%q): %v", tc.in, err)
			continue
		}
		if got := b.Hosts(tc.total); got != tc.want {
			t.Errorf("ParseBatch(%q).Hosts(%d) = %d, want %d", tc.in, tc.total, got, tc.want)
		}
	}
}

func TestParseMaxFailures(t *testing.T) {
	for _, tc := range []struct {
		in    string
		total int
		want  int
	}{
		{"3", 100, 3},
		{"3", 2, 3},
		{"10%", 100, 10},
		{"10%", 15, 1}, // rounded down
		{"10%", 9, 0},
		{"100%", 7, 7},
	} {
		m, err := ParseMaxFailures(tc.in)
		if err != nil {
			t.Errorf("ParseMaxFailures(%q): %v", tc.in, err)
			continue
		}
		if got := m.Allowed(tc.total); got != tc.want {
			t.Errorf("ParseMaxFailures(%q).Allowed(%d) = %d, want %d", tc.in, tc.total, got, tc.want)
		}
	}
}

func TestParseRefusesWithAdvice(t *testing.T) {
	for _, tc := range []struct {
		in, batchMsg, failMsg string
	}{
		{"0", "use 1 for one host at a time", "leave --max-failures out to stop at the first failure"},
		{"0%", "use 1 for one host at a time", "leave --max-failures out"},
		{"-1", "is negative", "is negative"},
		{"-5%", "is negative", "is negative"},
		{"abc", "is not a number", "is not a number"},
		{"", "is empty", "is empty"},
		{"%", "is empty", "is empty"},
		{"2.5", "is not a whole number", "is not a whole number"},
		{"2.5%", "is not a whole number", "is not a whole number"},
		{"101%", "is more than 100%", "is more than 100%"},
		{"10%%", "is not a number", "is not a number"},
		{"99999999999999999999", "is too large", "is too large"},
	} {
		_, err := ParseBatch(tc.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.batchMsg) ||
			!strings.Contains(err.Error(), "10 (hosts per batch) or 25%") {
			t.Errorf("ParseBatch(%q) = %v, want ErrInvalid saying %q and what to type", tc.in, err, tc.batchMsg)
		}
		_, err = ParseMaxFailures(tc.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.failMsg) ||
			!strings.Contains(err.Error(), "3 (failed hosts) or 10%") {
			t.Errorf("ParseMaxFailures(%q) = %v, want ErrInvalid saying %q and what to type", tc.in, err, tc.failMsg)
		}
	}
}

func TestPlan(t *testing.T) {
	b3, _ := ParseBatch("3")
	b25, _ := ParseBatch("25%")
	b100, _ := ParseBatch("100")
	for _, tc := range []struct {
		name  string
		hosts []string
		b     Batch
		want  [][]string
	}{
		{"count", hosts(7), b3, [][]string{{"h1", "h2", "h3"}, {"h4", "h5", "h6"}, {"h7"}}},
		{"percent", hosts(10), b25, [][]string{{"h1", "h2", "h3"}, {"h4", "h5", "h6"}, {"h7", "h8", "h9"}, {"h10"}}},
		{"larger than fleet", hosts(2), b100, [][]string{{"h1", "h2"}}},
		{"zero batch is one batch", hosts(3), Batch{}, [][]string{{"h1", "h2", "h3"}}},
		{"no hosts", nil, b3, nil},
	} {
		if got := Plan(tc.hosts, tc.b); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("%s: Plan = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// recorder is a step that fails the hosts in fail and records batches.
type recorder struct {
	fail    map[string]error
	omit    map[string]bool
	batches [][]string
	onBatch func(n int)
}

func (r *recorder) step(_ context.Context, batch []string) map[string]error {
	r.batches = append(r.batches, batch)
	if r.onBatch != nil {
		r.onBatch(len(r.batches))
	}
	out := map[string]error{}
	for _, h := range batch {
		if !r.omit[h] {
			out[h] = r.fail[h]
		}
	}
	return out
}

// fakeWait records the pauses instead of sleeping.
type fakeWait struct{ waits []time.Duration }

func (f *fakeWait) wait(ctx context.Context, d time.Duration) error {
	f.waits = append(f.waits, d)
	return ctx.Err()
}

func TestRunAllSucceedWaitsOnlyBetweenBatches(t *testing.T) {
	b, _ := ParseBatch("2")
	plan := Plan(hosts(5), b)
	rec, fw := &recorder{}, &fakeWait{}
	rep := Runner{Wait: fw.wait}.Run(context.Background(), plan, 30*time.Second, MaxFailures{}, rec.step)

	if !slices.EqualFunc(rec.batches, plan, slices.Equal) {
		t.Errorf("step saw %v, want the plan %v in order", rec.batches, plan)
	}
	if want := []time.Duration{30 * time.Second, 30 * time.Second}; !slices.Equal(fw.waits, want) {
		t.Errorf("waits = %v, want %v (between batches only)", fw.waits, want)
	}
	if !slices.Equal(rep.Ran, hosts(5)) || !slices.Equal(rep.Succeeded, hosts(5)) ||
		len(rep.Failed) != 0 || len(rep.NotStarted) != 0 || rep.Batches != 3 || !rep.OK() || rep.Err != nil {
		t.Errorf("report = %+v", rep)
	}
}

func TestRunStopsWhenFailuresExceedMax(t *testing.T) {
	b, _ := ParseBatch("2")
	m, _ := ParseMaxFailures("1")
	boom := errors.New("boom")
	rec := &recorder{fail: map[string]error{"h2": boom, "h3": boom}}
	rep := Runner{Wait: (&fakeWait{}).wait}.Run(context.Background(), Plan(hosts(8), b), time.Second, m, rec.step)

	if len(rec.batches) != 2 {
		t.Fatalf("ran %d batches, want 2 (stop after the second failure)", len(rec.batches))
	}
	wantFailed := []Failure{{"h2", boom}, {"h3", boom}}
	if !slices.Equal(rep.Ran, hosts(4)) || !slices.Equal(rep.Succeeded, []string{"h1", "h4"}) ||
		!slices.Equal(rep.Failed, wantFailed) || !slices.Equal(rep.NotStarted, []string{"h5", "h6", "h7", "h8"}) {
		t.Errorf("report = %+v", rep)
	}
	if rep.OK() || !strings.Contains(rep.Stopped, "2 hosts failed, more than the 1 allowed") || rep.Err != nil {
		t.Errorf("Stopped = %q, Err = %v", rep.Stopped, rep.Err)
	}
}

func TestRunToleratesExactlyMaxFailures(t *testing.T) {
	b, _ := ParseBatch("1")
	m, _ := ParseMaxFailures("50%") // 2 of 4
	rec := &recorder{fail: map[string]error{"h1": errors.New("x"), "h3": errors.New("y")}}
	rep := Runner{Wait: (&fakeWait{}).wait}.Run(context.Background(), Plan(hosts(4), b), 0, m, rec.step)
	if len(rec.batches) != 4 || !rep.OK() || len(rep.Failed) != 2 || rep.Allowed != 2 || len(rep.NotStarted) != 0 {
		t.Errorf("batches %d, report %+v", len(rec.batches), rep)
	}
}

func TestRunFailureInLastBatchIsReported(t *testing.T) {
	b, _ := ParseBatch("2")
	rec := &recorder{fail: map[string]error{"h4": errors.New("x")}}
	rep := Runner{Wait: (&fakeWait{}).wait}.Run(context.Background(), Plan(hosts(4), b), 0, MaxFailures{}, rec.step)
	if rep.OK() || rep.Stopped == "" || len(rep.NotStarted) != 0 || len(rep.Ran) != 4 {
		t.Errorf("report %+v: a failure over budget in the last batch must not look OK", rep)
	}
}

func TestRunCountsUnreportedHostAsFailed(t *testing.T) {
	rec := &recorder{omit: map[string]bool{"h2": true}}
	rep := Run(context.Background(), [][]string{hosts(3)}, 0, MaxFailures{n: 5}, rec.step)
	if len(rep.Failed) != 1 || rep.Failed[0].Host != "h2" || !errors.Is(rep.Failed[0].Err, ErrNoResult) {
		t.Errorf("failed = %+v, want h2 with ErrNoResult", rep.Failed)
	}
}

func TestRunCancelledDuringWaitStopsAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := ParseBatch("1")
	rec := &recorder{onBatch: func(n int) {
		if n == 1 {
			cancel()
		}
	}}
	done := make(chan Report, 1)
	// The zero Runner waits on a real timer: an hour, unless ctx ends it.
	go func() { done <- Run(ctx, Plan(hosts(3), b), time.Hour, MaxFailures{}, rec.step) }()
	var rep Report
	select {
	case rep = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting 10s after ctx was cancelled")
	}
	if !errors.Is(rep.Err, context.Canceled) || !slices.Equal(rep.Succeeded, []string{"h1"}) ||
		!slices.Equal(rep.NotStarted, []string{"h2", "h3"}) || !strings.Contains(rep.Stopped, "cancelled") {
		t.Errorf("report = %+v", rep)
	}
}

func TestRunRealWaitPauses(t *testing.T) {
	b, _ := ParseBatch("1")
	var starts []time.Time
	step := func(_ context.Context, batch []string) map[string]error {
		starts = append(starts, time.Now())
		return map[string]error{batch[0]: nil}
	}
	const pause = 30 * time.Millisecond
	rep := Run(context.Background(), Plan(hosts(2), b), pause, MaxFailures{}, step)
	if !rep.OK() || len(starts) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if gap := starts[1].Sub(starts[0]); gap < pause {
		t.Errorf("second batch started %s after the first, want at least %s", gap, pause)
	}
}

func TestRunCancelledBeforeStartRunsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &recorder{}
	rep := Run(ctx, [][]string{{"a"}, {"b"}}, 0, MaxFailures{}, rec.step)
	if len(rec.batches) != 0 || !slices.Equal(rep.NotStarted, []string{"a", "b"}) || !errors.Is(rep.Err, context.Canceled) {
		t.Errorf("batches %v, report %+v", rec.batches, rep)
	}
}
