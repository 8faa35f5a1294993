package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// issueCertCommand signs a client certificate with the CA of a running (or
// stopped) control plane, for a kubelet (CN system:node:NAME, O system:nodes)
// or any other client: control-plane issue-cert --pki DATA/pki --cn NAME
// [--org GROUP]... --out PREFIX writes PREFIX.crt and PREFIX.key (0600).
func issueCertCommand(args []string) int {
	fs := flag.NewFlagSet("issue-cert", flag.ContinueOnError)
	dir := fs.String("pki", "", "the control plane's pki folder (ca.crt, ca.key)")
	commonName := fs.String("cn", "", "the certificate's common name: the user name")
	out := fs.String("out", "", "write OUT.crt and OUT.key")
	var groups stringList
	fs.Var(&groups, "org", "an organization: a group of the user (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dir == "" || *commonName == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "control-plane issue-cert: --pki, --cn and --out are required, and nothing else")
		return 2
	}
	if err := issueClientCert(*dir, *commonName, groups, *out); err != nil {
		fmt.Fprintln(os.Stderr, "control-plane issue-cert:", err)
		return 1
	}
	return 0
}

func issueClientCert(dir, commonName string, groups []string, out string) error {
	ca, err := loadCA(dir)
	if err != nil {
		return err
	}
	pair, err := issue(clientTemplate(commonName, groups), ca)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(out+".key", pair.keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(out+".crt", pair.certPEM, 0o600)
}

// loadCA reads ca.crt and ca.key as writePKI wrote them (PEM, PKCS#8 key).
func loadCA(dir string) (*keyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, err
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("%s: ca.crt or ca.key is not PEM", dir)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca.crt: %w", err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca.key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, errors.New("ca.key: not a signing key")
	}
	return &keyPair{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}
