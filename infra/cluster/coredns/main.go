// Command coredns is CoreDNS with only the plugins the local real cluster's
// Corefile uses (infra/cluster/dns.ts): upstream's core/plugin imports all
// ~60 of them, and their SDKs (clouds, tracing, geoip) would double the build.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

// directives in upstream's execution order (plugin.cfg): a Corefile may use
// no others.
var directives = []string{"bind", "errors", "cache", "kubernetes", "forward"}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(2)
	}
	coremain.Run()
}
