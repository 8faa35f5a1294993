// Command delay-line holds every packet that a network namespace sends into
// a TUN device for a fixed time, then sends it on with a raw socket whose
// fwmark routes it out of the namespace's real interface. It stands in for
// netem's delay in the simulated cluster (infra/rig/sim-cluster.ts), where
// the kernel has no netem: see README.md for how packets flow and what it costs.
//
// Usage: delay-line -tun dly0 -delay 5ms [-mark 0x6e6d] [-queue-bytes 33554432]
//
// One OS thread does everything: ppoll on the TUN with a timeout that ends
// when the oldest held packet is due (timer slack 1 ns), read what arrived,
// send what is due. The delay is constant, so a FIFO keeps both the order and
// the due times sorted. It exits with its parent (PR_SET_PDEATHSIG) and on
// SIGTERM/SIGINT, printing its counters to stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	tunDevice  = "/dev/net/tun"
	iffTun     = 0x0001
	iffNoPi    = 0x1000
	tunSetIff  = 0x400454ca
	prSetSlack = 29 // PR_SET_TIMERSLACK
	schedFifo  = 1
	pollIn     = 0x0001
	// Packets read before the due ones are sent again: bounds how late a due
	// packet can be sent while a burst arrives.
	readBatch = 64
	// Buffers of this size are recycled; the TUN's MTU is the node's (1500).
	slotBytes = 2048
)

type counters struct {
	forwarded, queueFull, sendDropped, filtered, sendErrors, notIPv4 atomic.Uint64
}

func (c *counters) String() string {
	return fmt.Sprintf("forwarded %d, dropped: queue full %d, send buffer %d, filtered by netfilter %d, other send errors %d, not IPv4 %d",
		c.forwarded.Load(), c.queueFull.Load(), c.sendDropped.Load(), c.filtered.Load(), c.sendErrors.Load(), c.notIPv4.Load())
}

type held struct {
	due  int64 // ns on the monotonic clock since start
	data []byte
}

// fifo is a queue of held packets in arrival order (and so in due order).
type fifo struct {
	items []held
	head  int
	bytes int
	free  [][]byte
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(due int64, packet []byte) {
	var buf []byte
	if n := len(q.free); n > 0 && len(packet) <= slotBytes {
		buf = q.free[n-1][:len(packet)]
		q.free = q.free[:n-1]
	} else {
		buf = make([]byte, len(packet), max(len(packet), slotBytes))
	}
	copy(buf, packet)
	q.items = append(q.items, held{due: due, data: buf})
	q.bytes += len(buf)
}

func (q *fifo) peek() *held { return &q.items[q.head] }

func (q *fifo) pop() {
	item := q.items[q.head]
	q.items[q.head] = held{}
	q.head++
	q.bytes -= len(item.data)
	if cap(item.data) == slotBytes {
		q.free = append(q.free, item.data)
	}
	// Reuse the front of the slice once it is half dead.
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
}

func main() {
	tunName := flag.String("tun", "", "name of the TUN device to attach to (it must exist: ip tuntap add dev NAME mode tun)")
	delay := flag.Duration("delay", 0, "how long each packet is held (0 to 1s)")
	mark := flag.Uint("mark", 0x6e6d, "fwmark of the sent packets; a policy rule must route it out of the real interface")
	queueBytes := flag.Int("queue-bytes", 32<<20, "packets beyond this many held bytes are dropped")
	realtime := flag.Int("realtime", 0, "SCHED_FIFO priority of the forwarding thread (1-99), 0 to keep the normal scheduler")
	flag.Parse()
	if *tunName == "" || len(*tunName) >= 16 {
		fail("-tun: a device name of 1 to 15 characters is required")
	}
	if *delay < 0 || *delay > time.Second {
		fail(fmt.Sprintf("-delay: %v is not valid; expected 0 to 1s", *delay))
	}
	if *queueBytes < slotBytes {
		fail(fmt.Sprintf("-queue-bytes: %d is not valid; expected at least %d", *queueBytes, slotBytes))
	}

	// Everything below runs on this thread: the timer slack is per thread.
	runtime.LockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fail(fmt.Sprintf("prctl(PR_SET_PDEATHSIG): %v", errno))
	}
	if os.Getppid() == 1 {
		fail("the parent is gone already")
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSlack, 1, 0); errno != 0 {
		fail(fmt.Sprintf("prctl(PR_SET_TIMERSLACK): %v", errno))
	}
	if *realtime < 0 || *realtime > 99 {
		fail(fmt.Sprintf("-realtime: %d is not valid; expected 0 to 99", *realtime))
	}
	if *realtime > 0 {
		// A packet is late by as long as this thread waits for a CPU: on a busy
		// host, only a real-time thread is woken at once. Only this thread.
		param := int32(*realtime)
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedFifo, uintptr(unsafe.Pointer(&param))); errno != 0 {
			fail(fmt.Sprintf("sched_setscheduler(SCHED_FIFO, %d): %v", *realtime, errno))
		}
	}

	tun, err := openTun(*tunName)
	if err != nil {
		fail(err.Error())
	}
	raw, err := openRaw(int(*mark))
	if err != nil {
		fail(err.Error())
	}

	var stats counters
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "delay-line %s: %v: %s\n", *tunName, sig, &stats)
		os.Exit(0)
	}()
	fmt.Fprintf(os.Stderr, "delay-line %s: holding packets %v, sending with fwmark %#x\n", *tunName, *delay, *mark)
	run(tun, raw, int64(*delay), *queueBytes, &stats)
}

func fail(message string) {
	fmt.Fprintf(os.Stderr, "delay-line: %s\n", message)
	os.Exit(2)
}

// openTun attaches to an existing TUN device (no packet information header), non-blocking.
func openTun(name string) (int, error) {
	fd, err := syscall.Open(tunDevice, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", tunDevice, err)
	}
	var ifr [40]byte // struct ifreq: name[16], then flags (short)
	copy(ifr[:15], name)
	*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTun | iffNoPi
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		syscall.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, errno)
	}
	return fd, nil
}

// openRaw opens the sending socket: IPPROTO_RAW (the packet carries its IP
// header), marked so that policy routing sends it out of the real interface,
// with a send buffer large enough that the qdisc behind it (tbf) is what limits the queue.
func openRaw(mark int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("raw socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_MARK, mark); err != nil {
		return -1, fmt.Errorf("SO_MARK: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 8<<20); err != nil {
		return -1, fmt.Errorf("SO_SNDBUFFORCE: %w", err)
	}
	return fd, nil
}

type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// wait blocks until the TUN is readable or `timeout` ns have passed (forever when negative).
func wait(tun int, timeout int64) error {
	fds := pollFd{fd: int32(tun), events: pollIn}
	var ts *syscall.Timespec
	if timeout >= 0 {
		t := syscall.NsecToTimespec(timeout)
		ts = &t
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds)), 1, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if errno != 0 && errno != syscall.EINTR {
		return errno
	}
	return nil
}

func run(tun, raw int, delay int64, queueBytes int, stats *counters) {
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) } // monotonic
	var q fifo
	scratch := make([]byte, 65536)
	var dst syscall.SockaddrInet4
	for {
		// Send what is due.
		t := now()
		for q.len() > 0 && q.peek().due <= t {
			packet := q.peek().data
			copy(dst.Addr[:], packet[16:20])
			switch err := syscall.Sendto(raw, packet, 0, &dst); {
			case err == nil:
				stats.forwarded.Add(1)
			case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOBUFS):
				stats.sendDropped.Add(1)
			case errors.Is(err, syscall.EPERM):
				// An nftables drop on the way out (the rig's injected loss).
				stats.filtered.Add(1)
			default:
				if stats.sendErrors.Add(1) == 1 {
					fmt.Fprintf(os.Stderr, "delay-line: send: %v (counted from now on)\n", err)
				}
			}
			q.pop()
		}
		timeout := int64(-1)
		if q.len() > 0 {
			timeout = max(0, q.peek().due-now())
		}
		if err := wait(tun, timeout); err != nil {
			fail(fmt.Sprintf("ppoll: %v", err))
		}
		// Read what arrived, stamped on arrival.
		for range readBatch {
			n, err := syscall.Read(tun, scratch)
			if err != nil {
				if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
					break
				}
				fail(fmt.Sprintf("read TUN: %v", err))
			}
			packet := scratch[:n]
			switch {
			case n < 20 || packet[0]>>4 != 4:
				stats.notIPv4.Add(1)
			case q.bytes+n > queueBytes:
				stats.queueFull.Add(1)
			default:
				q.push(now()+delay, packet)
			}
		}
	}
}
