package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// freePort asks the kernel for a free TCP port on ip. Another process could
// take it before it is used again; on a test machine that is rare.
func freePort(ip net.IP) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// startEtcd runs a single-member etcd in this process, on loopback only, and
// waits until it serves. Its data lives in dir; fsync is off because the data
// of a test control plane is thrown away.
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	loopback := net.IPv4(127, 0, 0, 1)
	clientPort, err := freePort(loopback)
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort(loopback)
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "netmon-test"
	cfg.Dir = dir
	clientURL, peerURL := loopbackURL(clientPort), loopbackURL(peerPort)
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	cfg.UnsafeNoFsync = true
	cfg.EnableGRPCGateway = false

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, "", ctx.Err()
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", fmt.Errorf("etcd: not ready after a minute")
	}
}
