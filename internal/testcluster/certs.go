package testcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the file paths and in-memory material of one test cluster's certificates. Everything
// is generated fresh for every Start: nothing here is worth keeping, and fresh keys mean a stale
// kubeconfig from an earlier run can never talk to a new cluster by accident.
type pki struct {
	dir string

	caCert   *x509.Certificate // serving CA: signs the API server's and the stand-in virt-api's certs
	caKey    crypto.Signer
	caPEM    []byte
	caFile   string
	apiCert  string // API server serving cert + key
	apiKey   string
	proxyCA  *x509.CertPool // front-proxy CA, to check that requests really come from the aggregator
	proxyCAF string
	proxyCrt string // front-proxy client cert (CN front-proxy-client) the aggregator presents
	proxyKey string
	saPub    string // service-account signing key pair
	saKey    string
}

// newPKI writes every certificate and key the API server needs into dir.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}
	var err error
	if p.caCert, p.caKey, err = newCA("testcluster-ca"); err != nil {
		return nil, err
	}
	p.caPEM = certPEM(p.caCert)
	p.caFile = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p.caFile, p.caPEM, 0o600); err != nil {
		return nil, err
	}
	p.apiCert, p.apiKey, err = p.issue("kube-apiserver", []string{"localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, false)
	if err != nil {
		return nil, err
	}

	proxyCA, proxyKey, err := newCA("testcluster-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	p.proxyCA = x509.NewCertPool()
	p.proxyCA.AddCert(proxyCA)
	p.proxyCAF = filepath.Join(dir, "front-proxy-ca.crt")
	if err := os.WriteFile(p.proxyCAF, certPEM(proxyCA), 0o600); err != nil {
		return nil, err
	}
	// The aggregator authenticates to extension API servers (our stand-in virt-api) with this
	// cert; --requestheader-allowed-names=front-proxy-client makes the CN part of the contract.
	crt, key, err := signLeaf(proxyCA, proxyKey, "front-proxy-client", nil, true)
	if err != nil {
		return nil, err
	}
	p.proxyCrt, p.proxyKey = filepath.Join(dir, "front-proxy-client.crt"), filepath.Join(dir, "front-proxy-client.key")
	if err := writePair(p.proxyCrt, p.proxyKey, crt, key); err != nil {
		return nil, err
	}

	// Service-account tokens are signed with RSA, the one algorithm every component accepts.
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	p.saPub, p.saKey = filepath.Join(dir, "sa.pub"), filepath.Join(dir, "sa.key")
	if err := os.WriteFile(p.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}
	saDER := x509.MarshalPKCS1PrivateKey(sa)
	if err := os.WriteFile(p.saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// issue signs a serving certificate with the serving CA for the loopback addresses plus dnsNames
// and writes it as name.crt/name.key.
func (p *pki) issue(name string, dnsNames []string, client bool) (certFile, keyFile string, err error) {
	crt, key, err := signLeaf(p.caCert, p.caKey, name, dnsNames, client)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	return certFile, keyFile, writePair(certFile, keyFile, crt, key)
}

func newCA(cn string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("testcluster: CA %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// signLeaf makes a leaf certificate. Server certs always cover 127.0.0.1, ::1 and localhost
// because everything in the test cluster listens on loopback.
func signLeaf(ca *x509.Certificate, caKey crypto.Signer, cn string, dnsNames []string, client bool) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = append([]string{"localhost"}, dnsNames...)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("testcluster: certificate %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writePair(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, certPEM(cert), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// randomToken returns 32 hex characters for the static token file.
func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
