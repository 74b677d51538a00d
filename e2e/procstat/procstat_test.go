package procstat

import (
	"testing"
	"time"
)

// Busy work shows up in the machine's CPU time, and the counter never
// runs backwards.
func TestBusyCPUCountsWork(t *testing.T) {
	before, err := BusyCPU()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := BusyCPU()
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 100*time.Millisecond {
		t.Fatalf("300 ms of busy loop (%d rounds) counted as %s of machine CPU", x, d)
	}
}
