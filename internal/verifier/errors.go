package verifier

import "errors"

// RefusalError is why a token was refused. Every refusal the verifier makes
// is one of the sentinel values below, so callers can test them with
// errors.Is and map them to a metric reason and an RFC 6750 description
// without ever echoing anything taken from the token itself.
type RefusalError struct {
	// Reason is a short, fixed, metric-friendly name.
	Reason string
	// Description is a fixed, human-readable sentence that is safe to put in
	// a WWW-Authenticate header.
	Description string
	// kindOf, when set, is a broader refusal this one also matches with
	// errors.Is (an opaque token is also malformed).
	kindOf *RefusalError
}

func (e *RefusalError) Error() string { return e.Description }

// Is makes a refusal match the broader refusal it is a kind of.
func (e *RefusalError) Is(target error) bool { return e.kindOf != nil && target == e.kindOf }

func refusal(reason, description string) *RefusalError {
	return &RefusalError{Reason: reason, Description: description}
}

// Sentinel refusals. Reasons double as the "reason" label of the decision
// metric.
var (
	ErrMissingToken = refusal("missing_token", "no bearer token was sent")
	ErrMalformed    = refusal("malformed", "the token is not a well-formed compact JWS")
	// ErrOpaqueToken: the token has the shape of an opaque access token
	// (Ory Hydra's "ory_at_…", or two segments), not a JWT; the issuer must
	// issue JWT access tokens for local validation. It also matches
	// ErrMalformed.
	ErrOpaqueToken = &RefusalError{Reason: "opaque_token", kindOf: ErrMalformed,
		Description: "the token is an opaque access token, not a JWT: the issuer must issue JWT access tokens (Ory Hydra: strategies.access_token: jwt)"}
	ErrTooLarge          = refusal("too_large", "the token is too large")
	ErrUnsupportedAlg    = refusal("unsupported_alg", "the token's signing algorithm is not accepted")
	ErrMissingKid        = refusal("missing_kid", "the token header has no key id")
	ErrUnknownKid        = refusal("unknown_kid", "the token was signed with an unknown key")
	ErrUnsupportedHeader = refusal("unsupported_header", "the token header uses unsupported parameters")
	ErrBadType           = refusal("bad_typ", "the token type is not accepted")
	ErrBadSignature      = refusal("bad_signature", "the token signature is invalid")
	ErrBadIssuer         = refusal("bad_issuer", "the token issuer is not accepted")
	ErrBadAudience       = refusal("bad_audience", "the token audience is not accepted")
	ErrExpired           = refusal("expired", "the token has expired")
	ErrNotYetValid       = refusal("not_yet_valid", "the token is not valid yet")
	ErrInvalidClaims     = refusal("invalid_claims", "the token claims are invalid")
	ErrNoKeys            = refusal("no_keys", "no signing keys are available to verify the token")
	// ErrKeysStale is answered 503: the keys were dropped because no JWKS
	// refresh succeeded for longer than the allowed staleness.
	ErrKeysStale = refusal("jwks_stale", "the signing keys are stale: the issuer's JWKS could not be refreshed")
)

// ReasonOf returns the metric reason for err: the RefusalError's reason, or
// "error" for anything else.
func ReasonOf(err error) string {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Reason
	}
	return "error"
}

// DescriptionOf returns a description of err that is safe to send to a
// client.
func DescriptionOf(err error) string {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Description
	}
	return "the token could not be verified"
}
