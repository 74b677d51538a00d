package main

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
	_ "time/tzdata"
)

// standinVersion is the Kubernetes version this binary reports; it is set
// at build time through k8s.io/component-base/version's ldflags.
func standinVersion() string { return version.Get().GitVersion }

// runComponent runs one upstream component exactly as its own main would,
// with the arguments the parent process chose. os.Args is rewritten so the
// component's flag parsing and logs see its own name.
func runComponent(name string, args []string) int {
	name = strings.TrimPrefix(name, "__")
	os.Args = append([]string{name}, args...)
	switch name {
	case "kube-apiserver":
		return cli.Run(apiserver.NewAPIServerCommand())
	case "kube-controller-manager":
		return cli.Run(controllermanager.NewControllerManagerCommand())
	case "kube-scheduler":
		return cli.Run(scheduler.NewSchedulerCommand())
	case "kwok":
		return runKwok(args)
	}
	return 2
}

// runKwok mirrors sigs.k8s.io/kwok/cmd/kwok's main (v0.7.0), which is not
// importable. It is kwok v0.7.0 from third_party/kwok (see its
// README.standin.md for why a patched copy).
func runKwok(args []string) int {
	// The Kubernetes packages linked into this binary register "--version"
	// (non-bool) on pflag.CommandLine; cobra merges that set into kwok's
	// command, which has its own bool --version. This process runs only
	// kwok, so it starts from an empty global set.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ExitOnError)
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flagset)
	ctx, err := kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		logger.Error("kwok: init config flags", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	command.SetArgs(args)
	if err := command.ExecuteContext(context.Context(ctx)); err != nil {
		logger.Error("kwok: exit", err)
		return 1
	}
	return 0
}
