package enroll

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// CA is the collector's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	pool *x509.CertPool
}

// Pin returns the SHA-256 of the CA certificate: what enrollment tokens
// carry so that agents trust this CA and no other.
func (ca *CA) Pin() [32]byte { return sha256.Sum256(ca.Cert.Raw) }

// Pool returns a pool holding the CA alone.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func newCAFrom(cert *x509.Certificate, key crypto.Signer) (*CA, error) {
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %q is not a CA: %w", cert.Subject, cmdb.ErrInvalid)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key does not match the CA certificate: %w", cmdb.ErrInvalid)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, pool: pool}, nil
}

// NewCA generates a CA valid for ten years from now.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Parc collector CA", Organization: []string{"Parc"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return newCAFrom(cert, key)
}

// LoadCA reads an operator-supplied CA from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA %s, %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s cannot sign: %w", keyFile, cmdb.ErrInvalid)
	}
	return newCAFrom(cert, key)
}

// WritePEM writes the CA's certificate and key as PEM files (the key with
// mode 0600).
func (ca *CA) WritePEM(certFile, keyFile string) error {
	kder, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, ca.PEM(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// caRecord is the CA as kept in the store.
type caRecord struct {
	CertDER []byte    `cbor:"1,keyasint"`
	KeyDER  []byte    `cbor:"2,keyasint"`
	Created time.Time `cbor:"3,keyasint"`
}

const keyCA = "en/ca"

// BootstrapCA returns the cluster's CA from the store, generating and
// storing it (with an audit record) on the very first start. Collectors
// sharing a store share the CA.
func BootstrapCA(ctx context.Context, st store.Store, now time.Time) (*CA, bool, error) {
	var ca *CA
	created := false
	_, err := st.Update(ctx, func(tx store.Txn) error {
		created = false
		v, err := tx.Get(ctx, []byte(keyCA))
		if err == nil {
			var rec caRecord
			if err := cmdb.Decode(v, &rec); err != nil {
				return err
			}
			cert, err := x509.ParseCertificate(rec.CertDER)
			if err != nil {
				return fmt.Errorf("stored CA: %w: %v", cmdb.ErrCorrupt, err)
			}
			key, err := x509.ParsePKCS8PrivateKey(rec.KeyDER)
			if err != nil {
				return fmt.Errorf("stored CA key: %w: %v", cmdb.ErrCorrupt, err)
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return fmt.Errorf("stored CA key: %w", cmdb.ErrCorrupt)
			}
			ca, err = newCAFrom(cert, signer)
			return err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if ca, err = NewCA(now); err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(ca.Key)
		if err != nil {
			return err
		}
		b, err := cmdb.Encode(caRecord{CertDER: ca.Cert.Raw, KeyDER: kder, Created: now.UTC()})
		if err != nil {
			return err
		}
		if err := tx.Put([]byte(keyCA), b); err != nil {
			return err
		}
		created = true
		return audit.Record(tx, audit.Entry{At: now, Actor: "system", Action: "ca.create", Object: keyCA,
			After: map[string]any{"sha256": fmt.Sprintf("%x", ca.Pin()), "not_after": ca.Cert.NotAfter.UTC()}})
	})
	return ca, created, err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

// ServerName is the name in every collector certificate; agents check the
// chain to the pinned CA and this name, whatever address they dial.
const ServerName = "parc-collector"

// ServerCert issues a certificate for the collector's agent port, valid
// for validity, naming ServerName, localhost, the machine's host name and
// the given hosts (and, for an unspecified listen address, every interface
// address).
func (ca *CA) ServerCert(now time.Time, validity time.Duration, hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: ServerName, Organization: []string{"Parc"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{ServerName, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		switch {
		case ip == nil && h != "":
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		case ip != nil && ip.IsUnspecified():
			addrs, _ := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					tmpl.IPAddresses = append(tmpl.IPAddresses, n.IP)
				}
			}
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// signClient signs csr as the client certificate of agentID.
func (ca *CA) signClient(csrDER []byte, agentID string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: CSR: %v", cmdb.ErrInvalid, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: CSR signature: %v", cmdb.ErrInvalid, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
	case interface{ Size() int }:
		if k.Size() < 256 { // RSA under 2048 bits
			return nil, fmt.Errorf("%w: CSR key too small", cmdb.ErrInvalid)
		}
	case nil:
		return nil, fmt.Errorf("%w: CSR without a key", cmdb.ErrInvalid)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: agentID, Organization: []string{"Parc agent"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: sign CSR: %v", cmdb.ErrInvalid, err)
	}
	return x509.ParseCertificate(der)
}

// VerifyClient checks that chain's leaf is a client certificate issued by
// this CA and valid at now, and returns the agent id it names.
func (ca *CA) VerifyClient(chain []*x509.Certificate, now time.Time) (string, *x509.Certificate, error) {
	if len(chain) == 0 {
		return "", nil, fmt.Errorf("%w: no client certificate", ErrUnauthenticated)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", nil, fmt.Errorf("%w: client certificate: %v", ErrUnauthenticated, err)
	}
	id := leaf.Subject.CommonName
	if id == "" {
		return "", nil, fmt.Errorf("%w: client certificate names no agent", ErrUnauthenticated)
	}
	return id, leaf, nil
}

func hexPin(p [32]byte) string { return fmt.Sprintf("%x", p) }
