package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/clientcreds/clientcreds/internal/testenv"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// kubeAudience is the audience tokens must be minted for to act at the
// Kubernetes API through the verifier's TokenReview webhook.
const kubeAudience = "https://kubernetes.default.svc"

// TestVerifierTokenReviewWithKubeAPIServer runs a real kube-apiserver whose
// webhook token authenticator is bin/verifier's /tokenreview (over TLS,
// with a client certificate, as a cluster would run it) and asks the API
// server who emulator-issued access tokens are: one minted for the
// Kubernetes API's audience authenticates, with kubectl --token too; one
// minted for the protected API (api://default) does not.
func TestVerifierTokenReviewWithKubeAPIServer(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	tokens := mintTokensForTwoAudiences(t)
	c := tokens.client
	pki := newWebhookPKI(t)

	addr := harness.FreeAddr(t)
	p := harness.Start(t, "verifier-tokenreview", harness.Binary(t, "verifier"), []string{
		"--issuer", c.issuer(), "--listen", addr,
		"--tls-cert-file", pki.serverCert, "--tls-key-file", pki.serverKey,
	}, harness.Options{Env: []string{
		"VERIFIER_AUDIENCE=" + audience,
		"VERIFIER_REQUIRED_SCOPES=" + helloScope,
		"VERIFIER_TOKENREVIEW_AUDIENCES=" + kubeAudience,
		"VERIFIER_TOKENREVIEW_CLIENT_CA=" + pki.caCert,
		"VERIFIER_LOG_LEVEL=debug",
	}})
	verifierURL := "https://" + addr
	waitTLS(t, pki.client(false), verifierURL+"/readyz", p)

	t.Run("the webhook refuses callers without a client certificate", func(t *testing.T) {
		body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + tokens.kube + `"}}`
		resp, err := pki.client(false).Post(verifierURL+"/tokenreview", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", resp.StatusCode)
		}
	})

	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: verifier
  cluster:
    server: `+verifierURL+`/tokenreview
    certificate-authority: `+pki.caCert+`
users:
- name: apiserver
  user:
    client-certificate: `+pki.clientCert+`
    client-key: `+pki.clientKey+`
contexts:
- name: webhook
  context: {cluster: verifier, user: apiserver}
current-context: webhook
`), 0o600); err != nil {
		t.Fatal(err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	env.ControlPlane.GetAPIServer().Configure().
		Set("authentication-token-webhook-config-file", kubeconfig).
		Set("authentication-token-webhook-version", "v1").
		Set("authentication-token-webhook-cache-ttl", "1s").
		// The API server's own audience: it sends it as the review's
		// spec.audiences, and the verifier intersects it with the token's.
		Set("api-audiences", kubeAudience)
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping kube-apiserver: %v", err)
		}
	})

	whoami := func(token string) (*authv1.SelfSubjectReview, error) {
		anon := rest.AnonymousClientConfig(cfg)
		anon.BearerToken = token
		cs, err := kubernetes.NewForConfig(anon)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	}
	checkUser := func(t *testing.T, u authv1.UserInfo) {
		t.Helper()
		if u.Username != "oauth:"+c.clientID {
			t.Fatalf("username = %q, want oauth:%s", u.Username, c.clientID)
		}
		for _, g := range []string{"oauth:scope:" + helloScope, "system:authenticated"} {
			if !slices.Contains(u.Groups, g) {
				t.Fatalf("groups = %v, want %s among them", u.Groups, g)
			}
		}
	}

	t.Run("token for the Kubernetes API authenticates as the client", func(t *testing.T) {
		r, err := whoami(tokens.kube)
		if err != nil {
			t.Fatalf("SelfSubjectReview: %v", err)
		}
		checkUser(t, r.Status.UserInfo)
	})

	kubectl := filepath.Join(assets, "kubectl")
	caFile := filepath.Join(t.TempDir(), "apiserver-ca.crt")
	if err := os.WriteFile(caFile, cfg.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	runKubectl := func(token string) ([]byte, error) {
		cmd := exec.Command(kubectl, "--server", cfg.Host, "--certificate-authority", caFile, "--token", token,
			"--request-timeout", "30s", "auth", "whoami", "-o", "json")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return stderr.Bytes(), err
		}
		return out, nil
	}
	t.Run("kubectl --token with the Kubernetes API token", func(t *testing.T) {
		out, err := runKubectl(tokens.kube)
		if err != nil {
			t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
		}
		var r authv1.SelfSubjectReview
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("kubectl output: %v\n%s", err, out)
		}
		checkUser(t, r.Status.UserInfo)
	})
	t.Run("kubectl --token with the protected API's token is unauthorized", func(t *testing.T) {
		out, err := runKubectl(tokens.api)
		if err == nil {
			t.Fatalf("kubectl auth whoami succeeded with a token for %s:\n%s", audience, out)
		}
		if !strings.Contains(strings.ToLower(string(out)), "unauthorized") {
			t.Fatalf("kubectl failed, but not as unauthorized: %v\n%s", err, out)
		}
	})

	for name, token := range map[string]func(t *testing.T) string{
		"token for the protected API (" + audience + ")": func(*testing.T) string { return tokens.api },
		"token without the required scope":               func(*testing.T) string { return tokens.kubeNoScope },
		"forged token": func(*testing.T) string {
			return tokens.kube[:len(tokens.kube)-8] + "AAAAAAAA"
		},
		"not a JWT": func(*testing.T) string { return "definitely-not-a-jwt" },
	} {
		t.Run(name+" is unauthorized", func(t *testing.T) {
			_, err := whoami(token(t))
			if !apierrors.IsUnauthorized(err) {
				t.Fatalf("SelfSubjectReview error = %v, want 401 Unauthorized", err)
			}
		})
	}
}

// audienceTokens are access tokens of one client from one issuer, minted
// for different audiences.
type audienceTokens struct {
	client      oktaClient
	api         string // aud api://default, hello:read
	kube        string // aud kubeAudience, hello:read
	kubeNoScope string // aud kubeAudience, other:scope
}

// mintTokensForTwoAudiences gets tokens for api://default, then changes
// the emulator's default authorization server audience to the Kubernetes
// API's (as an Okta admin edits an authorization server's audience) and
// gets tokens for that. The emulator keeps its signing keys and apps in
// its state file across the restart in between, so every token comes from
// the same issuer and keys: only the audience differs.
func mintTokensForTwoAudiences(t *testing.T) audienceTokens {
	t.Helper()
	addr := harness.FreeAddr(t)
	state := filepath.Join(t.TempDir(), "emulator-state.json")
	apiToken := randomHex(t, 20)
	p, org := runEmulator(t, addr, state, apiToken)
	c := createApp(t, org, apiToken)
	out := audienceTokens{client: c, api: c.token(t, helloScope)}
	if err := p.Stop(); err != nil {
		t.Fatalf("stopping the emulator: %v", err)
	}

	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("emulator state: %v", err)
	}
	servers, _ := doc["authorizationServers"].([]any)
	changed := false
	for _, s := range servers {
		if as, ok := s.(map[string]any); ok && as["id"] == "default" {
			as["audiences"] = []string{kubeAudience}
			changed = true
		}
	}
	if !changed {
		t.Fatal("the emulator state holds no default authorization server")
	}
	if raw, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	runEmulator(t, addr, state, apiToken)
	out.kube = c.token(t, helloScope)
	out.kubeNoScope = c.token(t, otherScope)
	for what, tok := range map[string]string{"api": out.api, "kube": out.kube} {
		if got := tokenAudience(t, tok); got != map[string]string{"api": audience, "kube": kubeAudience}[what] {
			t.Fatalf("the %s token's aud is %q", what, got)
		}
	}
	return out
}

// tokenAudience reads a JWT's aud claim without verifying it (the
// verifier does that); it only checks the test's own setup.
func tokenAudience(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatal("not a compact JWS")
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if err := json.NewDecoder(base64URLReader(parts[1])).Decode(&claims); err != nil {
		t.Fatalf("token claims: %v", err)
	}
	switch a := claims.Aud.(type) {
	case string:
		return a
	case []any:
		if len(a) == 1 {
			s, _ := a[0].(string)
			return s
		}
	}
	return ""
}

// webhookPKI is a throw-away CA with a serving certificate for 127.0.0.1
// and a client certificate for kube-apiserver, written as PEM files.
type webhookPKI struct {
	caCert, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newWebhookPKI(t *testing.T) *webhookPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "verifier e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	pki := &webhookPKI{caCert: filepath.Join(dir, "ca.crt"), pool: x509.NewCertPool()}
	pki.pool.AddCert(ca)
	writePEM(t, pki.caCert, "CERTIFICATE", caDER)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	pki.serverCert, pki.serverKey = issue(2, "verifier", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	pki.clientCert, pki.clientKey = issue(3, "kube-apiserver", x509.ExtKeyUsageClientAuth, nil)
	return pki
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client returns an HTTPS client trusting the PKI's CA, presenting the
// kube-apiserver client certificate when withCert is set.
func (p *webhookPKI) client(withCert bool) *http.Client {
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err == nil {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// waitTLS polls url until it answers 200, failing at once if p exits.
func waitTLS(t *testing.T, c *http.Client, url string, p *harness.Process) {
	t.Helper()
	deadline := time.Now().Add(startWait)
	for {
		resp, err := c.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.Exited() {
			t.Fatalf("%s exited while waiting for %s", p.Name, url)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (last error %v)", url, startWait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func base64URLReader(s string) io.Reader {
	return base64.NewDecoder(base64.RawURLEncoding, strings.NewReader(s))
}
