// Command netget looks names up and fetches URLs the way a pod's programs
// do: Go's own resolver reads the pod's /etc/resolv.conf (the cluster DNS
// server, the search domains, ndots), with no C library and no NSS modules.
// It is in the cluster's tools image (netmon.local/busybox:local) because
// busybox-static cannot resolve names there: its glibc-static lookups need
// NSS modules that image does not have. Built static (CGO off).
//
//	netget lookup NAME...   one line per name: "NAME ADDRESS..." (exit 1 if one fails)
//	netget get URL...       one line per URL: "URL STATUS BYTES" (exit 1 unless every one is 2xx)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const usage = "usage: netget [-timeout D] lookup NAME... | get URL...\n"

func main() {
	timeout := flag.Duration("timeout", 10*time.Second, "per name or URL")
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage); flag.PrintDefaults() }
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	resolver := &net.Resolver{PreferGo: true}
	failed := false
	for _, target := range args[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		var line string
		var err error
		switch args[0] {
		case "lookup":
			line, err = lookup(ctx, resolver, target)
		case "get":
			line, err = get(ctx, resolver, target)
		default:
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "netget: %s: %v\n", target, err)
			failed = true
			continue
		}
		fmt.Println(line)
	}
	if failed {
		os.Exit(1)
	}
}

func lookup(ctx context.Context, resolver *net.Resolver, name string) (string, error) {
	addrs, err := resolver.LookupHost(ctx, name)
	if err != nil {
		return "", err
	}
	return name + " " + strings.Join(addrs, " "), nil
}

func get(ctx context.Context, resolver *net.Resolver, url string) (string, error) {
	dialer := &net.Dialer{Resolver: resolver}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s (%d bytes)", resp.Status, n)
	}
	return fmt.Sprintf("%s %d %d", url, resp.StatusCode, n), nil
}
