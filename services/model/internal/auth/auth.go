package auth

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Limits are the token buckets: one per key, and one per client address
// for failed attempts.
type Limits struct {
	// Rate is each key's sustained requests per second; 0 means no limit.
	Rate float64
	// Burst is how many requests a key may send at once above Rate.
	Burst int
	// FailureRate and FailureBurst are the bucket of failed attempts (a
	// missing, malformed or unknown key) per client address; 0 means
	// DefaultFailureRate and DefaultFailureBurst. Past it, the address
	// gets 429 without its key being looked at, so keys cannot be guessed
	// at speed.
	FailureRate  float64
	FailureBurst int
}

// A client address may fail 10 times at once, then once a second.
const (
	DefaultFailureRate  = 1.0
	DefaultFailureBurst = 10
)

// Outcome is what Check decided.
type Outcome int

// Check's outcomes. The zero value is not one of them.
const (
	OK           Outcome = iota + 1
	Unauthorized         // no key, several, malformed or unknown: 401
	Forbidden            // a known key without the route's scope: 403
	Limited              // the key's bucket, or the address's failure bucket, is empty: 429
)

// Decision is Check's answer.
type Decision struct {
	Outcome Outcome
	// Key is the key's name when it was recognised ("" otherwise). It is
	// the only thing about a key that logs and metrics carry.
	Key string
	// Reason says why a request was refused, for the client; it never
	// contains the key.
	Reason string
	// RetryAfter is when a Limited request may be retried.
	RetryAfter time.Duration
}

// key is a loaded entry with its token bucket and request counter.
type key struct {
	Entry
	limiter *rate.Limiter // nil when keys are not limited
	ok      prometheus.Counter
}

// keySet is one version of the keys file, swapped whole on reload.
type keySet struct {
	keys []*key
	data []byte // the file content it was parsed from, to notice changes
}

// Authenticator checks requests against the current keys. It is safe for
// concurrent use; Reload swaps the keys without disturbing requests.
type Authenticator struct {
	path   string
	log    *zap.Logger
	limits Limits
	set    atomic.Pointer[keySet]

	failures *addrLimiter

	requests      *prometheus.CounterVec // by key and outcome
	refused       *prometheus.CounterVec // unauthenticated, by reason
	loaded        prometheus.Gauge
	reloads       prometheus.Counter
	reloadFailure prometheus.Counter
	refusedReload string // the last refused content's error, logged once
}

// New loads the keys file at path and returns an Authenticator whose
// metrics are registered with reg. A file that cannot be read or parsed
// is an error that names the file and line.
func New(log *zap.Logger, reg prometheus.Registerer, path string, limits Limits) (*Authenticator, error) {
	a := &Authenticator{
		path: path, log: log, limits: limits,
		failures: newAddrLimiter(rate.Limit(cmp.Or(limits.FailureRate, DefaultFailureRate)), cmp.Or(limits.FailureBurst, DefaultFailureBurst), maxAddresses),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_api_key_requests_total",
			Help: "Requests that presented a known API key, by key name and outcome (ok, forbidden: the key lacks the route's scope, rate_limited).",
		}, []string{"key", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_auth_refused_total",
			Help: "Requests refused before a key was recognised, by reason (missing, malformed, unknown, address_limited).",
		}, []string{"reason"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "model_api_keys", Help: "API keys loaded from MODEL_API_KEYS_FILE.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "model_api_keys_reloads_total", Help: "Times the keys file changed and was re-read without a restart.",
		}),
		reloadFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "model_api_keys_reload_failures_total", Help: "Changed keys files refused (unreadable or invalid); the previous keys stayed in force.",
		}),
	}
	for _, r := range []string{"missing", "malformed", "unknown", "address_limited"} {
		a.refused.WithLabelValues(r)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	set, err := a.parse(data)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(a.requests, a.refused, a.loaded, a.reloads, a.reloadFailure)
	a.install(set)
	return a, nil
}

// parse builds a key set from the file's content, keeping the buckets of
// the keys the current set has, so a reload does not refill them.
func (a *Authenticator) parse(data []byte) (*keySet, error) {
	entries, err := Parse(a.path, data)
	if err != nil {
		return nil, err
	}
	old := map[string]*key{}
	if cur := a.set.Load(); cur != nil {
		for _, k := range cur.keys {
			old[k.Name] = k
		}
	}
	set := &keySet{data: data}
	for _, e := range entries {
		k := &key{Entry: e, ok: a.requests.WithLabelValues(e.Name, "ok")}
		switch prev := old[e.Name]; {
		case prev != nil && prev.Hash == e.Hash:
			k.limiter = prev.limiter
		case a.limits.Rate > 0:
			k.limiter = rate.NewLimiter(rate.Limit(a.limits.Rate), a.limits.Burst)
		}
		set.keys = append(set.keys, k)
	}
	return set, nil
}

func (a *Authenticator) install(set *keySet) {
	a.set.Store(set)
	a.loaded.Set(float64(len(set.keys)))
	if len(set.keys) == 0 {
		a.log.Warn("the keys file has no keys: every request that needs one is refused", zap.String("file", a.path))
	}
}

// Keys returns the names of the keys in force.
func (a *Authenticator) Keys() []string {
	var names []string
	for _, k := range a.set.Load().keys {
		names = append(names, k.Name)
	}
	return names
}

// Check decides whether the request may use a route that needs scope.
// addr is the client's IP address, without a port: failures are limited
// by it.
func (a *Authenticator) Check(h http.Header, addr string, scope Scope) Decision {
	now := time.Now()
	if wait := a.failures.blocked(addr, now); wait > 0 {
		a.refused.WithLabelValues("address_limited").Inc()
		return Decision{Outcome: Limited, RetryAfter: wait,
			Reason: "too many failed attempts from this address; retry later"}
	}
	presented, reason := credential(h)
	var k *key
	if reason == "" {
		k = a.find(presented)
		if k == nil {
			reason = "unknown"
		}
	}
	if k == nil {
		a.failures.fail(addr, now)
		a.refused.WithLabelValues(reason).Inc()
		return Decision{Outcome: Unauthorized, Reason: reasons[reason]}
	}
	if !k.Has(scope) {
		a.requests.WithLabelValues(k.Name, "forbidden").Inc()
		return Decision{Outcome: Forbidden, Key: k.Name,
			Reason: "the API key " + k.Name + " lacks the " + string(scope) + " scope this route needs"}
	}
	if k.limiter != nil && !k.limiter.AllowN(now, 1) {
		a.requests.WithLabelValues(k.Name, "rate_limited").Inc()
		return Decision{Outcome: Limited, Key: k.Name, RetryAfter: untilToken(k.limiter, now),
			Reason: "the API key " + k.Name + " is over its rate limit; retry later"}
	}
	k.ok.Inc()
	return Decision{Outcome: OK, Key: k.Name}
}

// reasons are the client's explanations of a 401, by metric reason.
var reasons = map[string]string{
	"missing":   "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>",
	"malformed": "send exactly one API key, as Authorization: Bearer <key> or X-API-Key: <key>, in printable ASCII",
	"unknown":   "the API key is not valid (unknown or revoked)",
}

// credential returns the one key the request presents, or the reason
// ("missing" or "malformed") it presents none usable: no key, several
// (headers repeated, or both kinds), an empty bearer token, another
// scheme, or characters outside printable ASCII.
func credential(h http.Header) (string, string) {
	authz, apiKey := h["Authorization"], h["X-Api-Key"]
	switch {
	case len(authz)+len(apiKey) == 0:
		return "", "missing"
	case len(authz)+len(apiKey) > 1:
		return "", "malformed"
	}
	var k string
	if len(apiKey) == 1 {
		k = apiKey[0]
	} else {
		scheme, token, ok := strings.Cut(authz[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", "malformed"
		}
		k = strings.TrimLeft(token, " ")
	}
	if k == "" {
		return "", "malformed"
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return "", "malformed"
		}
	}
	return k, ""
}

// find returns the key whose hash is presented's, comparing against every
// key in constant time, so the time taken says nothing about which key,
// if any, matched, nor how much of a hash did.
func (a *Authenticator) find(presented string) *key {
	// A key is longer than the 32 bytes the compiler converts a string
	// on the stack for: a buffer of its own keeps the hashing from
	// allocating.
	var buf [128]byte
	h := sha256.Sum256(append(buf[:0], presented...))
	var found *key
	for _, k := range a.set.Load().keys {
		if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
			found = k
		}
	}
	return found
}

// untilToken is how long until lim has a token again.
func untilToken(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
}
