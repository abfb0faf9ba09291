package oktaemu

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns prefix followed by n-len(prefix) random alphanumerics, the
// shape of Okta object ids (for example "0oa" + 17 characters for apps).
func newID(prefix string, n int) string {
	if n <= len(prefix) {
		return prefix
	}
	buf := make([]byte, n-len(prefix))
	rnd := make([]byte, len(buf))
	if _, err := rand.Read(rnd); err != nil {
		panic("oktaemu: crypto/rand failed: " + err.Error())
	}
	for i := range buf {
		// 62 symbols: the slight modulo bias is irrelevant for ids.
		buf[i] = idAlphabet[int(rnd[i])%len(idAlphabet)]
	}
	return prefix + string(buf)
}

// randomToken returns n random bytes encoded as unpadded base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("oktaemu: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// oktaTimeLayout is how Okta renders timestamps: UTC with milliseconds.
const oktaTimeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(oktaTimeLayout) }
