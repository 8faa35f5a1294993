package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the files the API server and its admin client need. Everything is
// generated fresh at each start: a test control plane has no secrets to keep.
type pki struct {
	CACert, CAKey, ServerCert, ServerKey string
	AdminCert, AdminKey                  string
	KubeletClientCert, KubeletClientKey  string
	ServiceAccountKey, ServiceAccountPub string
	caPEM, adminCertPEM, adminKeyPEM     []byte
}

type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// issue signs template with parent (nil: self-signed) and returns the pair.
func issue(template *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	// A little slack for clocks; a test control plane lives for minutes.
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	signerCert, signerKey := template, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

// writePKI creates a CA, a serving certificate for 127.0.0.1, localhost and
// bind (plus the in-cluster names of the kubernetes service), an admin client
// certificate in system:masters, the client certificate the API server shows
// kubelets, and the service-account signing key pair. The CA key stays in dir
// (ca.key) so that more client certificates can be issued (issue-cert), e.g.
// system:node:NAME in system:nodes for a kubelet.
func writePKI(dir string, serviceIP, bind net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "k8s-netmon-test-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	server, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPAddresses: servingIPs(serviceIP, bind),
	}, ca)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	admin, err := issue(clientTemplate("kubernetes-admin", []string{"system:masters"}), ca)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	// system:masters may reach every kubelet API (logs, exec, proxy); a test
	// control plane needs no finer role for its own API server.
	kubeletClient, err := issue(clientTemplate("kube-apiserver-kubelet-client", []string{"system:masters"}), ca)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	saKey, saKeyPEM, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	p := &pki{
		CACert:            filepath.Join(dir, "ca.crt"),
		CAKey:             filepath.Join(dir, "ca.key"),
		ServerCert:        filepath.Join(dir, "apiserver.crt"),
		ServerKey:         filepath.Join(dir, "apiserver.key"),
		AdminCert:         filepath.Join(dir, "admin.crt"),
		AdminKey:          filepath.Join(dir, "admin.key"),
		KubeletClientCert: filepath.Join(dir, "kubelet-client.crt"),
		KubeletClientKey:  filepath.Join(dir, "kubelet-client.key"),
		ServiceAccountKey: filepath.Join(dir, "sa.key"),
		ServiceAccountPub: filepath.Join(dir, "sa.pub"),
		caPEM:             ca.certPEM,
		adminCertPEM:      admin.certPEM,
		adminKeyPEM:       admin.keyPEM,
	}
	files := map[string][]byte{
		p.CACert:            ca.certPEM,
		p.CAKey:             ca.keyPEM,
		p.ServerCert:        server.certPEM,
		p.ServerKey:         server.keyPEM,
		p.AdminCert:         admin.certPEM,
		p.AdminKey:          admin.keyPEM,
		p.KubeletClientCert: kubeletClient.certPEM,
		p.KubeletClientKey:  kubeletClient.keyPEM,
		p.ServiceAccountKey: saKeyPEM,
		p.ServiceAccountPub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// servingIPs are the addresses the API server's certificate names: loopback,
// the kubernetes service address and the bind address (once).
func servingIPs(serviceIP, bind net.IP) []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP}
	if !bind.Equal(ips[0]) {
		ips = append(ips, bind)
	}
	return ips
}

func clientTemplate(commonName string, groups []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}
