// Command control-plane runs a Kubernetes control plane in one process: an
// embedded etcd and kube-apiserver, both from the upstream Go modules, on
// loopback (or one given address, such as a bridge that simulated nodes
// reach). It prints one JSON line on stdout when /readyz answers ok, and
// stops both cleanly on SIGTERM or SIGINT.
//
//	control-plane [--data-dir DIR] [--port N] [--bind-address IP]
//	              [--kubeconfig-out PATH] [--ready-file PATH]
//	              [--ready-timeout D] [--exit-with-parent] [--remove-data-dir]
//	              [-- kube-apiserver flags...]
//	control-plane issue-cert --pki DIR --cn NAME [--org GROUP]... --out PREFIX
//
// The scheduler and the controller-manager are not in this process: the
// local real cluster runs them beside it (cmd/hyperkube). Without them, what
// controllers would create (default service accounts, garbage collection,
// namespace deletion, pods of workloads) does not happen.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// serviceCIDR is the range of ClusterIPs; the first address is the
// kubernetes service. It is only bookkeeping: nothing routes it.
const (
	serviceCIDR = "10.96.0.0/16"
	issuer      = "https://kubernetes.default.svc.cluster.local"
)

type options struct {
	dataDir        string
	port           int
	bindAddress    net.IP
	kubeconfigOut  string
	readyFile      string
	readyTimeout   time.Duration
	exitWithParent bool
	removeDataDir  bool
	apiserverArgs  []string
}

type readyLine struct {
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	DataDir    string `json:"dataDir"`
	Etcd       string `json:"etcd"`
	PID        int    `json:"pid"`
}

func main() {
	os.Exit(run())
}

func parseOptions(args []string) (*options, error) {
	fs := flag.NewFlagSet("control-plane", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.dataDir, "data-dir", "", "folder for etcd data and certificates (default: a new temporary folder, removed on exit)")
	fs.IntVar(&o.port, "port", 0, "kube-apiserver port on the bind address (0: a free one)")
	bind := fs.String("bind-address", "127.0.0.1", "the one IPv4 address kube-apiserver listens on and names in its serving certificate")
	fs.StringVar(&o.kubeconfigOut, "kubeconfig-out", "", "where to write the admin kubeconfig (default: DATA_DIR/admin.kubeconfig)")
	fs.StringVar(&o.readyFile, "ready-file", "", "also write the ready line to this file (atomically), for callers that cannot read stdout")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 3*time.Minute, "how long to wait for /readyz")
	fs.BoolVar(&o.removeDataDir, "remove-data-dir", false, "remove --data-dir on exit (a temporary one is always removed)")
	fs.BoolVar(&o.exitWithParent, "exit-with-parent", false, "stop (as on SIGTERM) when the parent process dies")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: control-plane [flags] [-- kube-apiserver flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.apiserverArgs = fs.Args()
	if o.port < 0 || o.port > 65535 {
		return nil, fmt.Errorf("--port %d: want 0..65535", o.port)
	}
	if o.bindAddress = net.ParseIP(*bind).To4(); o.bindAddress == nil || o.bindAddress.IsUnspecified() {
		return nil, fmt.Errorf("--bind-address %q: want one IPv4 address of this host (not 0.0.0.0)", *bind)
	}
	return o, nil
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == "issue-cert" {
		return issueCertCommand(os.Args[2:])
	}
	o, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "control-plane:", err)
		return 2
	}
	// The command installs the SIGINT/SIGTERM handler (a second signal exits
	// at once); its context is the whole program's.
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()
	// Whoever reads our output may be gone (a killed parent): writes to a closed
	// stdout or stderr must fail, not kill us before etcd closes and the data
	// dir is removed.
	signal.Ignore(syscall.SIGPIPE)
	stopOnHangup()
	if o.exitWithParent {
		// SIGHUP, not SIGTERM: the kernel sends the parent-death signal again
		// each time the child moves to another thread of the dying parent, and
		// a second SIGTERM makes kube-apiserver exit at once, without cleanup.
		parent := os.Getppid()
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGHUP), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "control-plane: prctl:", err)
			return 1
		}
		if os.Getppid() != parent {
			return 1
		}
	}
	if err := serve(ctx, o, cmd.SetArgs, cmd.Execute); err != nil {
		fmt.Fprintln(os.Stderr, "control-plane:", err)
		return 1
	}
	return 0
}

// stopOnHangup turns the first SIGHUP (a closed terminal, or the death of the
// parent with --exit-with-parent) into one SIGTERM, the signal kube-apiserver
// shuts down on; later ones are dropped.
func stopOnHangup() {
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	go func() {
		<-hangup
		fmt.Fprintln(os.Stderr, "control-plane: hangup or parent gone: stopping")
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
}

func serve(ctx context.Context, o *options, setArgs func([]string), execute func() error) (err error) {
	dataDir := o.dataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "netmon-control-plane-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	if o.dataDir == "" || o.removeDataDir {
		// Deferred first, so it runs last: after etcd has closed its files.
		defer os.RemoveAll(dataDir)
	}
	kubeconfig := o.kubeconfigOut
	if kubeconfig == "" {
		kubeconfig = filepath.Join(dataDir, "admin.kubeconfig")
	}
	port := o.port
	if port == 0 {
		if port, err = freePort(o.bindAddress); err != nil {
			return err
		}
	}
	serviceIP := net.IPv4(10, 96, 0, 1)
	certs, err := writePKI(filepath.Join(dataDir, "pki"), serviceIP, o.bindAddress)
	if err != nil {
		return err
	}

	started := time.Now()
	etcd, etcdURL, err := startEtcd(ctx, filepath.Join(dataDir, "etcd"))
	if err != nil {
		return err
	}
	defer etcd.Close()

	setArgs(append(apiserverFlags(o.bindAddress, port, etcdURL, dataDir, certs), o.apiserverArgs...))
	apiserverDone := make(chan error, 1)
	go func() { apiserverDone <- execute() }()

	server := "https://" + net.JoinHostPort(o.bindAddress.String(), strconv.Itoa(port))
	if err := waitReady(ctx, server, certs, o.readyTimeout, apiserverDone); err != nil {
		return err
	}
	if err := writeKubeconfig(kubeconfig, server, certs); err != nil {
		return err
	}
	line, err := json.Marshal(readyLine{Server: server, Kubeconfig: kubeconfig, DataDir: dataDir, Etcd: etcdURL, PID: os.Getpid()})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "control-plane: ready after %.1fs\n", time.Since(started).Seconds())
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", line); err != nil {
		return err
	}
	if o.readyFile != "" {
		if err := writeFileAtomic(o.readyFile, append(line, '\n')); err != nil {
			return err
		}
	}

	select {
	case err := <-apiserverDone:
		// Returns nil after a graceful shutdown on SIGTERM/SIGINT.
		return err
	case err := <-etcd.Err():
		return fmt.Errorf("etcd stopped: %w", err)
	}
}

func apiserverFlags(bind net.IP, port int, etcdURL, dataDir string, p *pki) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + bind.String(),
		"--advertise-address=" + bind.String(),
		"--secure-port=" + strconv.Itoa(port),
		// The endpoints of the kubernetes service may not be a loopback address.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(dataDir, "pki"),
		"--tls-cert-file=" + p.ServerCert,
		"--tls-private-key-file=" + p.ServerKey,
		"--client-ca-file=" + p.CACert,
		// What it shows to kubelets (logs, exec, proxy); unused when no kubelet runs.
		"--kubelet-client-certificate=" + p.KubeletClientCert,
		"--kubelet-client-key=" + p.KubeletClientKey,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + issuer,
		"--service-account-key-file=" + p.ServiceAccountPub,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--profiling=false",
	}
}

// waitReady polls /readyz as the admin until it answers "ok", the API server
// gives up, the context ends or the timeout passes.
func waitReady(ctx context.Context, server string, p *pki, timeout time.Duration, apiserverDone <-chan error) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	clientCert, err := tls.X509KeyPair(p.adminCertPEM, p.adminKeyPEM)
	if err != nil {
		return err
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12},
		},
	}
	defer client.CloseIdleConnections()
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		select {
		case err := <-apiserverDone:
			if err == nil {
				err = errors.New("exited")
			}
			return fmt.Errorf("kube-apiserver: %w", err)
		case <-ctx.Done():
			// Interrupted while starting: let the API server finish its shutdown.
			select {
			case <-apiserverDone:
			case <-time.After(30 * time.Second):
			}
			return errors.New("interrupted before ready")
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after %s: %s", timeout, last)
		case <-tick.C:
			status, body, err := get(ctx, client, server+"/readyz")
			switch {
			case err != nil:
				last = err.Error()
			case status == http.StatusOK && body == "ok":
				return nil
			default:
				last = fmt.Sprintf("HTTP %d", status)
			}
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body), err
}

// writeFileAtomic writes data to a temporary file beside path and renames it,
// so a reader polling for path never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
