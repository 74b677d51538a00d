package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/messages"
)

func TestUpgradeFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--version", "1.2.0", "--batch", "2", "--max-failures", "1", "--yes"}, ""},
		{[]string{"--host", "a", "--where", "role=web"}, "not both"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--max-failures", "x"}, "--max-failures"},
		{[]string{"--deadline", "1s"}, "--deadline"},
		{[]string{"--version", "../1"}, "version"},
		{[]string{"--where", "role="}, "--where"},
	} {
		ios, _, _, _ := cmdutil.Test()
		var got *UpgradeOptions
		cmd := NewCmdUpgrade(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *UpgradeOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(&strings.Builder{})
		cmd.SetErr(&strings.Builder{})
		err := cmd.Execute()
		if tt.wantErr == "" {
			if err != nil || got == nil || got.Version != "1.2.0" || got.Batch != "2" || got.MaxFailures != "1" || !got.Yes || got.Deadline != time.Minute {
				t.Errorf("%v: %+v %v", tt.args, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: error %v, want one about %s", tt.args, err, tt.wantErr)
		}
	}
}

// fakeFleet answers from fixed data and runs jobs instantly: every host
// of the job gets outcome(host).
type fakeFleet struct {
	hosts   []messages.HostRecord
	arts    []messages.Artifact
	outcome func(h string) messages.JobHost
	ran     *messages.JobRunRequest
	polls   int
}

func (f *fakeFleet) HostList(context.Context) (messages.HostListResult, error) {
	return messages.HostListResult{Hosts: f.hosts}, nil
}

func (f *fakeFleet) ListArtifacts(_ context.Context, req messages.ArtifactListRequest) (messages.ArtifactListResult, error) {
	var out []messages.Artifact
	for _, a := range f.arts {
		if req.Version == "" || a.Version == req.Version {
			out = append(out, a)
		}
	}
	return messages.ArtifactListResult{Artifacts: out}, nil
}

func (f *fakeFleet) RunJob(_ context.Context, req messages.JobRunRequest) (messages.JobRecord, error) {
	f.ran = &req
	j := messages.JobRecord{ID: "j1", Verb: req.Verb, State: messages.JobRunning, Batch: req.Batch, MaxFailures: "0", Batches: len(req.Hosts)}
	for i, h := range req.Hosts {
		j.Hosts = append(j.Hosts, messages.JobHost{Host: h, State: messages.HostPending, Batch: i + 1})
	}
	return j, nil
}

func (f *fakeFleet) Job(context.Context, string) (messages.JobRecord, error) {
	f.polls++
	j, _ := f.RunJob(context.Background(), *f.ran)
	j.State, j.BatchesRun = messages.JobSucceeded, j.Batches
	for i := range j.Hosts {
		o := f.outcome(j.Hosts[i].Host)
		o.Host, o.Batch = j.Hosts[i].Host, j.Hosts[i].Batch
		j.Hosts[i] = o
		if o.State != messages.HostOK {
			j.State = messages.JobStopped
			j.Stopped = "1 hosts failed, more than the 0 allowed"
		}
	}
	return j, nil
}

func (f *fakeFleet) Close() {}

func artifact(version string, verified bool) messages.Artifact {
	a := messages.Artifact{ArtifactRef: messages.ArtifactRef{Component: messages.AgentComponent, Version: version,
		File: "foundry-agent_" + version + "_linux_amd64", Size: 10, SHA256: strings.Repeat("a", 64), KeyID: "k", Sig: []byte{1}}, Verified: verified}
	if !verified {
		a.Problem = "stored bytes differ from the signed ones; re-import the artifact"
	}
	return a
}

func host(id, version string) messages.HostRecord {
	return messages.HostRecord{ID: id, State: messages.StateOnline, Facts: messages.Facts{AgentVersion: version}}
}

func upgraded(from, to string) func(string) messages.JobHost {
	return func(string) messages.JobHost {
		b, _ := json.Marshal(messages.AgentUpgradeReply{From: from, To: to, Changed: true})
		return messages.JobHost{State: messages.HostOK, Result: b}
	}
}

func run(t *testing.T, f *fakeFleet, o UpgradeOptions) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	o.IO, o.Connect, o.Yes, o.Deadline = ios, func(context.Context) (Fleet, error) { return f, nil }, true, time.Minute
	err := upgradeRun(context.Background(), &o)
	return out.String(), errOut.String(), err
}

func TestUpgradeRunsTheNewestVerifiedBuildOnHostsThatNeedIt(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.0.0"), host("b", "1.1.0"), host("c", "1.0.0")},
		arts: []messages.Artifact{artifact("1.0.0", true), artifact("1.1.0", true), artifact("1.2.0", false)}, outcome: upgraded("1.0.0", "1.1.0")}
	out, errOut, err := run(t, f, UpgradeOptions{Batch: "1"})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if f.ran == nil || f.ran.Verb != messages.VerbAgentUpgrade || strings.Join(f.ran.Hosts, ",") != "a,c" || f.ran.Batch != "1" {
		t.Fatalf("job request %+v", f.ran)
	}
	p, err := messages.DecodeAgentUpgrade(f.ran.Payload)
	if err != nil || p.Version != "1.1.0" || p.DeadlineMs != 60_000 || p.AllowDowngrade {
		t.Errorf("payload %+v %v", p, err)
	}
	want := "batch 1/2:\n  a upgraded 1.0.0 → 1.1.0\nbatch 2/2:\n  c upgraded 1.0.0 → 1.1.0\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("stdout:\n%s\nwant it to end with:\n%s", out, want)
	}
	if !strings.Contains(out, "b\tonline\t1.1.0\talready at 1.1.0") || !strings.Contains(errOut, "job j1 succeeded: 2 upgraded, 0 rolled back") {
		t.Errorf("plan or summary:\n%s\n%s", out, errOut)
	}
}

func TestUpgradeRefusesATamperedBuildBeforeAskingAnyHost(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.0.0")}, arts: []messages.Artifact{artifact("1.2.0", false)}}
	_, _, err := run(t, f, UpgradeOptions{Version: "1.2.0"})
	if err == nil || !strings.Contains(err.Error(), "re-import it") || f.ran != nil {
		t.Fatalf("err %v, job %+v", err, f.ran)
	}
}

func TestUpgradeRefusesADowngradeUnlessAllowed(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.1.0")}, arts: []messages.Artifact{artifact("1.0.0", true)}, outcome: upgraded("1.1.0", "1.0.0")}
	_, _, err := run(t, f, UpgradeOptions{Version: "1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "--allow-downgrade") || f.ran != nil {
		t.Fatalf("err %v, job %+v", err, f.ran)
	}
	if _, errOut, err := run(t, f, UpgradeOptions{Version: "1.0.0", AllowDowngrade: true}); err != nil || f.ran == nil {
		t.Fatalf("allowed: %v %s", err, errOut)
	}
	if p, _ := messages.DecodeAgentUpgrade(f.ran.Payload); !p.AllowDowngrade {
		t.Error("the payload does not allow the downgrade")
	}
}

func TestUpgradeOfAConvergedFleetSendsNothing(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.1.0")}, arts: []messages.Artifact{artifact("1.1.0", true)}}
	_, errOut, err := run(t, f, UpgradeOptions{})
	if err != nil || f.ran != nil || !strings.Contains(errOut, "nothing to do") {
		t.Fatalf("%v %+v %s", err, f.ran, errOut)
	}
}

func TestUpgradeDryRunSendsNothing(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.0.0")}, arts: []messages.Artifact{artifact("1.1.0", true)}}
	out, errOut, err := run(t, f, UpgradeOptions{DryRun: true})
	if err != nil || f.ran != nil || !strings.Contains(out, "upgrade 1.0.0 → 1.1.0") || !strings.Contains(errOut, "would change") {
		t.Fatalf("%v %+v\n%s\n%s", err, f.ran, out, errOut)
	}
}

func TestUpgradeNamesRolledBackHostsAndFails(t *testing.T) {
	f := &fakeFleet{hosts: []messages.HostRecord{host("a", "1.0.0")}, arts: []messages.Artifact{artifact("1.2.0", true)},
		outcome: func(string) messages.JobHost {
			return messages.JobHost{State: messages.HostRolledBack, Error: "rolled back to 1.0.0 by itself: agent 1.2.0 did not stay up after 3 starts"}
		}}
	out, errOut, err := run(t, f, UpgradeOptions{})
	var ec *cmdutil.ExitCodeError
	if !errors.As(err, &ec) || ec.Code != 3 {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(out, "a rolled_back: rolled back to 1.0.0 by itself") ||
		!strings.Contains(errOut, "1 rolled back") || !strings.Contains(errOut, "rolled back by themselves to their previous agent: a") {
		t.Errorf("output:\n%s\n%s", out, errOut)
	}
}

func TestUpgradeWithoutAnyBuildSaysHowToImportOne(t *testing.T) {
	_, _, err := run(t, &fakeFleet{hosts: []messages.HostRecord{host("a", "1.0.0")}}, UpgradeOptions{})
	if err == nil || !strings.Contains(err.Error(), "foundry artifact import foundry-agent") {
		t.Fatal(err)
	}
}

func TestSummaryOfAnInterruptedJobCountsItsInterruptedHosts(t *testing.T) {
	j := messages.JobRecord{ID: "j1", State: messages.JobInterrupted, Stopped: "controller c1 stopped during batch 2 of 3", Hosts: []messages.JobHost{
		{Host: "a", State: messages.HostOK}, {Host: "b", State: messages.HostInterrupted}, {Host: "c", State: messages.HostNotStarted}}}
	want := "job j1 interrupted: 1 upgraded, 0 rolled back, 0 failed, 0 not reached, 1 not started, 1 interrupted\nstopped: controller c1 stopped during batch 2 of 3"
	if got := Summary(j); got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
}
