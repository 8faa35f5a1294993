package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// launch joins the cgroup PATH (relative to each hierarchy's root) in every
// mounted cgroup hierarchy (v1, and the unified one of a hybrid host), sets
// the parent-death signal to SIGTERM and execs the program. With --parent,
// it refuses to go on when its parent is no longer that process (it died
// before the signal was armed).
func launch(args []string) int {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	cgroup := fs.String("cgroup", "", "cgroup path to join in every hierarchy, e.g. /k8s-netmon-123/node-1/runtime (must exist)")
	parent := fs.Int("parent", 0, "the expected parent process id (0: do not check)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	argv := fs.Args()
	if *cgroup == "" || !filepath.IsAbs(*cgroup) || len(argv) == 0 {
		fmt.Fprint(os.Stderr, "hyperkube launch: --cgroup /PATH and a program are required\n", usage)
		return 2
	}
	// The parent-death signal belongs to the thread that sets it, and execve
	// keeps the calling thread's: both must happen on this one.
	runtime.LockOSThread()
	if err := joinCgroup(*cgroup); err != nil {
		fmt.Fprintln(os.Stderr, "hyperkube launch:", err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "hyperkube launch: prctl:", err)
		return 1
	}
	if *parent != 0 && os.Getppid() != *parent {
		fmt.Fprintln(os.Stderr, "hyperkube launch: the parent is gone")
		return 1
	}
	program, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hyperkube launch:", err)
		return 127
	}
	err = unix.Exec(program, argv, os.Environ())
	fmt.Fprintln(os.Stderr, "hyperkube launch: exec", program+":", err)
	return 126
}

// joinCgroup moves this process into path in every cgroup hierarchy.
func joinCgroup(path string) error {
	roots, err := cgroupRoots()
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return errors.New("no cgroup hierarchy is mounted")
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, root := range roots {
		procs := filepath.Join(root, path, "cgroup.procs")
		if err := os.WriteFile(procs, pid, 0); err != nil {
			return fmt.Errorf("join %s: %w", procs, err)
		}
	}
	return nil
}

// cgroupRoots lists the mount points of whole cgroup hierarchies: filesystem
// type "cgroup" (v1) and "cgroup2" (unified; in hybrid mode runc and the
// kubelet make cgroups there too, so the cluster's processes live there as well).
func cgroupRoots() ([]string, error) {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var roots []string
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
		before, after, found := strings.Cut(scanner.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		isCgroup := len(tail) >= 1 && (tail[0] == "cgroup" || tail[0] == "cgroup2")
		if found && len(fields) >= 5 && isCgroup && fields[3] == "/" {
			roots = append(roots, fields[4])
		}
	}
	return roots, scanner.Err()
}
