package verifier

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testCA is a throw-away certificate authority for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTokenReviewClientCertificates: with a client CA, /tokenreview needs a
// TLS client certificate that CA signed (as kube-apiserver's webhook
// kubeconfig presents); /verify on the same listener needs none.
func TestTokenReviewClientCertificates(t *testing.T) {
	env := newServerEnv(t)
	kube := goodToken(t, env.ti, func(m map[string]any) { m["aud"] = testKubeAudience })
	srv := NewServer(ServerConfig{Verifier: env.v, Policy: env.policy,
		TokenReviewAudiences: []string{testKubeAudience}, TokenReviewRequireClientCert: true})
	ca, rogue := newTestCA(t, "kube-apiserver CA"), newTestCA(t, "rogue CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ts := httptest.NewUnstartedServer(srv)
	ts.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	defer ts.Close()

	client := func(certs ...tls.Certificate) *http.Client {
		tr := ts.Client().Transport.(*http.Transport).Clone()
		if len(certs) > 0 {
			// Sent whatever CAs the server names, so that the server's own
			// verification is what is tested.
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	body := mustJSON(t, map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": kube}})
	review := func(c *http.Client) (int, bool, error) {
		resp, err := c.Post(ts.URL+"/tokenreview", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, false, err
		}
		defer func() { _ = resp.Body.Close() }()
		var out struct {
			Status struct {
				Authenticated bool `json:"authenticated"`
			} `json:"status"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Status.Authenticated, nil
	}

	if code, _, err := review(client()); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("without a client certificate: %d, %v; want 401", code, err)
	}
	if code, auth, err := review(client(ca.clientCert(t, "kube-apiserver"))); err != nil || code != 200 || !auth {
		t.Fatalf("with the CA's client certificate: %d authenticated=%v, %v; want 200 and authenticated", code, auth, err)
	}
	if code, _, err := review(client(rogue.clientCert(t, "kube-apiserver"))); err == nil {
		t.Fatalf("a certificate from another CA got an HTTP answer (%d); want the TLS handshake refused", code)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/verify", nil)
	req.Header.Set("X-Original-Uri", "/public/x")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/verify without a client certificate = %d, want 200 (forward auth needs none)", resp.StatusCode)
	}
}
