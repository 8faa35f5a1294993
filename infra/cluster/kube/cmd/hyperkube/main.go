// Command hyperkube is one binary for the Kubernetes components the local
// real cluster runs beside its control plane, chosen by the first argument,
// each in a process of its own exactly as upstream's own binary would run:
//
//	hyperkube kubelet|kube-proxy|kube-scheduler|kube-controller-manager [flags]
//	hyperkube launch --cgroup PATH [--parent PID] -- PROGRAM [ARGS...]
//
// Why one binary of separate processes rather than separate binaries, or the
// scheduler and controller-manager inside the control-plane process:
//   - one link instead of three (linking is most of a warm build: ~15 s each)
//     and one file in the page cache, shared by every kubelet of the cluster;
//   - a process per component keeps upstream's behaviour: no two components
//     share flag sets, feature gates, metrics registries or signal handlers,
//     which the upstream commands assume they own;
//   - the scheduler and controller-manager start in ~0.1 s either way: a
//     separate process costs nothing measurable against the API server's start.
//
// launch is not a component: it puts itself in a cgroup in every cgroup
// hierarchy, asks for SIGTERM when its parent dies, and execs PROGRAM. The
// cluster starts containerd and kubelets through it, so that their children
// (containerd's shims, the containers) are found by cgroup and nothing
// outlives a supervisor that crashed.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	// CronJob time zones, as upstream's kube-controller-manager has them.
	_ "time/tzdata"
)

const usage = "usage: hyperkube kubelet|kube-proxy|kube-scheduler|kube-controller-manager [flags]\n" +
	"       hyperkube launch --cgroup PATH [--parent PID] -- PROGRAM [ARGS...]\n"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	// Each component names itself after argv[0] (help, logs).
	os.Args = append([]string{name}, args...)
	switch name {
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "kube-proxy":
		os.Exit(cli.Run(proxy.NewProxyCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "launch":
		os.Exit(launch(args))
	default:
		fmt.Fprintf(os.Stderr, "hyperkube: unknown command %q\n%s", name, usage)
		os.Exit(2)
	}
}
