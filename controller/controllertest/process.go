package controllertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/foundry-fleet/foundry/agent"
)

// agentProcessEnv names the config file of an agent that a test binary
// runs as a child process instead of its tests, so a test can freeze
// (SIGSTOP) or kill (SIGKILL) that agent without touching itself.
const agentProcessEnv = "FOUNDRY_TEST_AGENT_CONFIG"

// RunAgentProcessIfAsked runs the agent and exits when this process was
// started by StartAgentProcess; otherwise it returns at once. Call it
// first in the TestMain of a package that uses StartAgentProcess.
func RunAgentProcessIfAsked() {
	path := os.Getenv(agentProcessEnv)
	if path == "" {
		return
	}
	os.Exit(runAgentProcess(path))
}

func runAgentProcess(path string) int {
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := agent.New(agent.Options{Config: cfg, Version: "test", Facts: Facts(cfg.ID),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// StartAgentProcess runs cfg's agent in a child process (the test binary
// itself, see RunAgentProcessIfAsked) until the test ends; its log goes
// to dir/ID.log.
func StartAgentProcess(t testing.TB, cfg agent.Config, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentProcessEnv+"="+WriteAgentConfig(t, cfg, dir))
	logf, err := os.OpenFile(filepath.Join(dir, cfg.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	return cmd
}
