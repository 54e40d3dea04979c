package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Server is a server's TLS configuration from a certificate and key file,
// and, for mutual TLS, a file of client CAs and optionally a subject
// alternative name every client certificate must carry. The files are
// read again when they change (checked at most once a second, on a
// handshake), so a renewed certificate is served without a restart; a
// renewal that does not load keeps the last good one.
func Server(certFile, keyFile, clientCAFile, clientSAN string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	r := &reloader{certFile: certFile, keyFile: keyFile, caFile: clientCAFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, _ := r.current()
			return &cert, nil
		},
	}
	if clientCAFile != "" {
		// The client CAs can change too, so the chain is verified here,
		// against the current pool, rather than by a fixed ClientCAs.
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			_, pool := r.current()
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			chains, err := cs.PeerCertificates[0].Verify(opts)
			if err != nil {
				return err
			}
			if clientSAN != "" {
				return requireSAN(clientSAN, chains)
			}
			return nil
		}
	}
	return cfg, nil
}

// requireSAN refuses a verified client certificate without the name among
// its DNS names, URIs, e-mail addresses or IP addresses.
func requireSAN(san string, chains [][]*x509.Certificate) error {
	for _, chain := range chains {
		leaf := chain[0]
		names := append(slices.Clone(leaf.DNSNames), leaf.EmailAddresses...)
		for _, u := range leaf.URIs {
			names = append(names, u.String())
		}
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		if slices.Contains(names, san) {
			return nil
		}
	}
	return fmt.Errorf("client certificate does not carry the subject alternative name %q", san)
}

type reloader struct {
	certFile, keyFile, caFile string

	mu      sync.Mutex
	cert    tls.Certificate
	pool    *x509.CertPool
	stamp   string
	checked time.Time
}

func (r *reloader) current() (tls.Certificate, *x509.CertPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if r.fingerprint() != r.stamp {
			r.loadLocked() // a bad renewal keeps the last good files
		}
	}
	return r.cert, r.pool
}

func (r *reloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = time.Now()
	return r.loadLocked()
}

func (r *reloader) loadLocked() error {
	stamp := r.fingerprint()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("%s, %s: %w", r.certFile, r.keyFile, err)
	}
	var pool *x509.CertPool
	if r.caFile != "" {
		if pool, err = CertPool(r.caFile); err != nil {
			return err
		}
	}
	r.cert, r.pool, r.stamp = cert, pool, stamp
	return nil
}

// fingerprint changes when any of the files is replaced or rewritten.
func (r *reloader) fingerprint() string {
	s := ""
	for _, f := range []string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

// CertPool reads a PEM file of CA certificates.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}

// Client is a client's TLS configuration: the CAs in caFile, or the
// system's when it is empty; a client certificate when certFile and
// keyFile are given; and, only when asked, no verification of the
// server's certificate.
func Client(certFile, keyFile, caFile string, skipVerify bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify}
	if caFile != "" {
		pool, err := CertPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("a client certificate needs both the certificate and the key file")
	}
	return c, nil
}
