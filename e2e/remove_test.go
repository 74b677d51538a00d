package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/e2e/harness"
)

// `host remove` on a real host: it reports only what was done, once it
// was done, and leaves nothing of Foundry behind: no agent unit, binary or
// process, no Foundry key in authorized_keys nor in the local key store,
// no malformed-line warnings from the transient units, and no agent
// logging refused credentials on its way out.
func TestHostRemoveLeavesNothing(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	hosts := harness.Hosts(t, numHosts)
	h := hosts[numHosts-1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := harness.Reset(ctx, h); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", h.IP, "--id", h.Name, "--password-stdin", "--yes", "--agent-binary", f.agent)
	if code != 0 {
		t.Fatalf("add: exit %d\n%s\n%s", code, out, errOut)
	}
	authKeys := "/home/" + h.User + "/.ssh/authorized_keys"
	keyFile := filepath.Join(f.home, "ssh-keys", h.Name)
	if n := inside(t, h, "grep -c ' foundry$' "+authKeys+" || true"); n != "1" {
		t.Fatalf("after add, %s has %s Foundry keys", authKeys, n)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("after add, no key in the local store: %v", err)
	}
	since := inside(t, h, "date +%s")

	code, out, errOut = f.cli("", "host", "remove", h.Name, "--yes")
	t.Logf("host remove:\n%s%s", out, errOut)
	if code != 0 {
		t.Errorf("remove: exit %d", code)
	}
	defer func() {
		if t.Failed() {
			t.Logf("on %s:\n%s", h.Name, inside(t, h, "systemctl status foundry-agent.service --no-pager 2>&1; journalctl --since @"+since+" --no-pager -o short-precise 2>&1 | tail -80 || true"))
		}
	}()
	for _, want := range []string{
		h.Name + ": agent removed /lib/systemd/system/foundry-agent.service, /usr/bin/foundry-agent",
		h.Name + ": Foundry's SSH key removed from admin's authorized_keys",
		h.Name + ": agent stopped (its connection closed)",
		h.Name + ": NATS identity revoked (1 key(s))",
		h.Name + ": SSH private key deleted from the file key store",
		h.Name + ": removed (via nats)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Checked at once: remove returned only after all of it was done.
	if left := inside(t, h, "ls /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service /etc/foundry /var/lib/foundry /usr/local/bin/foundry-agent /etc/systemd/system/foundry-agent.service 2>/dev/null | wc -l"); left != "0" {
		t.Errorf("%s files left on the host", left)
	}
	if st := inside(t, h, "dpkg-query -W -f='${Status}' foundry-agent 2>/dev/null || true"); st != "" {
		t.Errorf("dpkg still knows the agent package: %q", st)
	}
	// The agent's connection closing is what remove waited for; its
	// process exits right after (goodbye sent, nothing left to do).
	ct.CheckFor(t, 3*time.Second, 100*time.Millisecond, func() error {
		if st := inside(t, h, "systemctl is-active foundry-agent.service || true"); st == "active" || st == "deactivating" {
			return fmt.Errorf("agent unit still %s", st)
		}
		if ps := inside(t, h, "pgrep -x foundry-agent || true"); ps != "" {
			return fmt.Errorf("agent process still running: %s", ps)
		}
		return nil
	})
	if n := inside(t, h, "grep -c ' foundry$' "+authKeys+" || true"); n != "0" {
		t.Errorf("%s still holds %s Foundry key(s)", authKeys, n)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Errorf("key still in the local store: %v", err)
	}
	journal := inside(t, h, "journalctl --since @"+since+" --no-pager -o short 2>&1 || true")
	for _, bad := range []string{"missing '='", "ignoring line", "unknown key name", "authorization violation"} {
		if strings.Contains(strings.ToLower(journal), bad) {
			t.Errorf("journal since remove shows %q:\n%s", bad, matching(journal, bad))
		}
	}
}

func matching(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(strings.ToLower(l), sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
