package modelapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/requestid"
)

const (
	defaultTimeout    = 2 * time.Second
	defaultRetries    = 2
	defaultBackoff    = 100 * time.Millisecond
	defaultMaxBackoff = time.Second

	maxResponseBytes     = 32 << 20 // a larger answer is a bug, not a prediction
	maxErrorBodyBytes    = 4 << 10  // of a non-2xx body kept in APIError.Body
	maxListedFieldErrors = 5        // in APIError.Error
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// BaseURL is where the model API listens, e.g. http://localhost:8080;
	// it may carry a path prefix. Required.
	BaseURL string
	// Timeout bounds each attempt, reading the answer included; default 2s.
	Timeout time.Duration
	// Retries is how many extra attempts follow the first when it fails in
	// a retryable way. 0 means the default, 2; a negative value means none.
	Retries int
	// Backoff is the wait before the first retry; it doubles for each
	// further retry, with jitter, up to MaxBackoff. Default 100ms.
	Backoff time.Duration
	// MaxBackoff caps every wait between attempts, a server's Retry-After
	// included. Default 1s.
	MaxBackoff time.Duration
	// HTTPClient sends the requests. Default: a client whose transport keeps
	// up to 32 idle connections to the model service.
	HTTPClient *http.Client
	// APIKey, if set, is sent with every request as Authorization: Bearer
	// <key>, for a model API with auth on (MODEL_API_KEYS_FILE).
	APIKey string
	// OnCall, if set, is called once per finished call (after retries and
	// decoding) from the calling goroutine; it must be quick and safe for
	// concurrent use.
	OnCall func(CallStat)
}

// CallStat describes one finished logical call.
type CallStat struct {
	Op       string        // "predict", "metadata", "diagnostics", "ready", "drift", "performance", "aliases" or "shadow"
	Status   int           // HTTP status of the last attempt, 0 if none answered
	Attempts int           // attempts made, retries included
	Duration time.Duration // the whole call, waits between attempts included
	Err      error         // what the call returned
	At       time.Time     // when the call started
}

// PredictOptions ask POST /predict for more than the point predictions.
type PredictOptions struct {
	Interval      bool // 95% prediction intervals (?interval=prediction)
	Contributions bool // each term's contribution per record (?contributions=true)
}

// Client is a typed client of the model API. It is safe for concurrent use.
type Client struct {
	base       string
	http       *http.Client
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	onCall     func(CallStat)
	authz      string // the Authorization header, "" without a key
}

// NewClient returns a Client for the model API at opts.BaseURL, with
// defaults filled in for the zero options.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("modelapi: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("modelapi: base URL %q: want http(s)://host[:port][/path]", opts.BaseURL)
	}
	if opts.Timeout < 0 || opts.Backoff < 0 || opts.MaxBackoff < 0 {
		return nil, errors.New("modelapi: Timeout, Backoff and MaxBackoff must not be negative")
	}
	c := &Client{
		base:       u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		http:       opts.HTTPClient,
		timeout:    cmp.Or(opts.Timeout, defaultTimeout),
		retries:    max(cmp.Or(opts.Retries, defaultRetries), 0),
		backoff:    cmp.Or(opts.Backoff, defaultBackoff),
		maxBackoff: cmp.Or(opts.MaxBackoff, defaultMaxBackoff),
		onCall:     opts.OnCall,
	}
	if opts.APIKey != "" {
		for i := 0; i < len(opts.APIKey); i++ {
			if b := opts.APIKey[i]; b <= ' ' || b > '~' {
				return nil, errors.New("modelapi: APIKey has a character outside printable ASCII")
			}
		}
		c.authz = "Bearer " + opts.APIKey
	}
	if c.http == nil {
		// No Timeout here: each attempt's context bounds it.
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: 32, // the frontend sends all its calls to one host
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return c, nil
}

// BaseURL returns the normalised base URL requests are sent to.
func (c *Client) BaseURL() string { return c.base }

// Predict asks the model for the body mass of each record.
func (c *Client) Predict(ctx context.Context, records []Record, opts PredictOptions) (*PredictResponse, error) {
	if records == nil {
		records = []Record{} // let the server say "empty array", not "got null"
	}
	// Marshalled once: every attempt re-sends the same bytes.
	body, err := json.Marshal(records)
	if err != nil {
		return nil, fmt.Errorf("model API predict: encode request: %w", err)
	}
	q := url.Values{}
	if opts.Interval {
		q.Set("interval", "prediction")
	}
	if opts.Contributions {
		q.Set("contributions", "true")
	}
	path := "/predict"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out PredictResponse
	// A POST, yet safe to retry: a prediction is a pure function of the
	// request and the served model, and the service keeps no state per
	// request, so sending it twice has no effect beyond the first.
	err = c.run(ctx, call{op: "predict", method: http.MethodPost, path: path, body: body, retryStatus: true}, func(b []byte) error {
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		if len(out.Predict) != len(records) {
			return fmt.Errorf("%d predictions for %d records", len(out.Predict), len(records))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Metadata returns what the served model's artifact records and how it is
// served.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	var out Metadata
	err := c.run(ctx, call{op: "metadata", method: http.MethodGet, path: "/metadata", retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Diagnostics returns the fitted values and residuals of the rows the
// served model was fitted to. A model without them is not an error:
// Available is false and Reason says why.
func (c *Client) Diagnostics(ctx context.Context) (*Diagnostics, error) {
	var out Diagnostics
	err := c.run(ctx, call{op: "diagnostics", method: http.MethodGet, path: "/diagnostics", retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Ready asks /readyz whether the model service can predict. The error is
// nil only for a 200 "ready". A 503 returns both the decoded Health
// ("loading" or "draining") and an *APIError. Ready retries only when no
// answer arrives: a 503 is the service's answer, and waiting to ask again
// would only make the answer late.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	var h Health
	err := c.run(ctx, call{op: "ready", method: http.MethodGet, path: "/readyz"}, func(b []byte) error {
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		if h.Status != "ready" {
			return fmt.Errorf("status %q with HTTP 200", h.Status)
		}
		return nil
	})
	if ae, ok := errors.AsType[*APIError](err); ok && ae.Status == http.StatusServiceUnavailable {
		if json.Unmarshal([]byte(ae.Body), &h) == nil && h.Status != "" {
			return &h, err
		}
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// call is one logical request to the model API.
type call struct {
	op, method, path string
	body             []byte // nil for no body
	// retryStatus says whether 502, 503 and 504 answers are retried.
	retryStatus bool
}

// answer is what one attempt got back.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// run makes the call, hands a 2xx body to decode and reports the call to
// OnCall.
func (c *Client) run(ctx context.Context, r call, decode func([]byte) error) error {
	start := time.Now()
	ans, attempts, err := c.exchange(ctx, r)
	if err == nil {
		if derr := decode(ans.body); derr != nil {
			err = fmt.Errorf("model API %s: decode response: %w", r.op, derr)
		}
	}
	if c.onCall != nil {
		c.onCall(CallStat{Op: r.op, Status: ans.status, Attempts: attempts, Duration: time.Since(start), Err: err, At: start})
	}
	return err
}

// exchange makes attempts until one gets a 2xx, one fails in a way a retry
// cannot fix, the retries run out, or ctx ends. It returns the last
// attempt's answer.
func (c *Client) exchange(ctx context.Context, r call) (answer, int, error) {
	for attempts := 1; ; attempts++ {
		ans, err := c.attempt(ctx, r)
		switch {
		case err != nil && ctx.Err() != nil:
			// The caller gave up; that is not the service's failure.
			return ans, attempts, fmt.Errorf("model API %s: %w", r.op, err)
		case err != nil && !noAnswer(err):
			return ans, attempts, fmt.Errorf("model API %s: %w", r.op, err)
		case err != nil:
			err = &noAnswerError{op: r.op, attempts: attempts, err: err}
		case ans.status >= 200 && ans.status < 300:
			return ans, attempts, nil
		default:
			err = newAPIError(r.op, ans)
			if !r.retryStatus || !unavailableStatus(ans.status) {
				return ans, attempts, err
			}
		}
		if attempts > c.retries {
			return ans, attempts, err
		}
		wait := c.wait(attempts, ans.header)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return ans, attempts, err // the retry could not finish in time
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ans, attempts, fmt.Errorf("model API %s: %w while waiting to retry after %d attempt(s)", r.op, ctx.Err(), attempts)
		case <-t.C:
		}
	}
}

// attempt sends the request once, under its own timeout, and reads the
// whole answer so that the connection can be reused.
func (c *Client) attempt(ctx context.Context, r call) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "penguins-modelapi/"+buildinfo.Version)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := requestid.From(ctx); id != "" {
		req.Header.Set(requestid.Header, id)
	}
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	ans := answer{status: resp.StatusCode, header: resp.Header}
	ans.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return ans, fmt.Errorf("read response: %w", err)
	}
	if len(ans.body) > maxResponseBytes {
		return ans, fmt.Errorf("response body exceeds %d MiB", maxResponseBytes>>20)
	}
	return ans, nil
}

// wait returns how long to wait before retry n (1-based): Backoff doubled
// per earlier retry, capped at MaxBackoff, half of it random so that
// clients that failed together do not retry together; at least the
// server's Retry-After (in seconds), but never more than MaxBackoff.
func (c *Client) wait(n int, header http.Header) time.Duration {
	d := c.backoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	d = d/2 + rand.N(d/2+1)
	if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil && s >= 0 {
		ra := c.maxBackoff
		if time.Duration(s) <= c.maxBackoff/time.Second {
			ra = time.Duration(s) * time.Second
		}
		d = max(d, ra)
	}
	return d
}

// noAnswer reports whether a failed attempt got no answer from the service
// at all: refused or reset connection, DNS failure, timeout, or a
// connection closed before the answer was complete. TLS and protocol
// errors are not among them: retrying cannot fix those.
func noAnswer(err error) bool {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // *url.Error is itself a net.Error
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// noAnswerError is the failure of a call that got no answer.
type noAnswerError struct {
	op       string
	attempts int
	err      error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("model API %s: no answer in %d attempt(s): %v", e.op, e.attempts, e.err)
}

func (e *noAnswerError) Unwrap() error { return e.err }

func unavailableStatus(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// Unavailable reports whether err means the model service could not
// answer: a refused or reset connection, a DNS failure, an attempt that
// timed out (its own Timeout, or a net timeout), or an *APIError with status
// 502, 503 or 504. It is false for other answers (4xx, 500), for a response
// that could not be decoded, and when the caller's own ctx ended the call,
// cancelled or past its deadline: the caller knows why from ctx.Err(), and
// errors.Is(err, context.Canceled or context.DeadlineExceeded) holds.
func Unavailable(err error) bool {
	if _, ok := errors.AsType[*noAnswerError](err); ok {
		return true
	}
	ae, ok := errors.AsType[*APIError](err)
	return ok && unavailableStatus(ae.Status)
}

// AuthFailed reports whether err is the model API refusing the client's
// key: 401 (no key, or one that is unknown or revoked) or 403 (a key
// without the scope the call needs). It is not Unavailable: the service
// answered, and retrying with the same key cannot help.
func AuthFailed(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	return ok && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden)
}

// APIError is a non-2xx answer from the model API.
type APIError struct {
	Op     string
	Status int
	// Problem is decoded when the body is application/problem+json, or JSON
	// with a "title" or "status".
	Problem *Problem
	Body    string // the raw body, truncated to 4 KiB
}

func newAPIError(op string, ans answer) *APIError {
	e := &APIError{Op: op, Status: ans.status, Body: clip(string(ans.body), maxErrorBodyBytes)}
	var p Problem
	if json.Unmarshal(ans.body, &p) == nil {
		mt, _, _ := mime.ParseMediaType(ans.header.Get("Content-Type"))
		if mt == "application/problem+json" || p.Title != "" || p.Status != 0 {
			e.Problem = &p
		}
	}
	return e
}

// Error says what the API answered, e.g.
//
//	model API predict: 422 Invalid input: 1 invalid field(s) in 1 record(s): /species: unknown species "Emperor", expected ...
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model API %s: %d", e.Op, e.Status)
	p := e.Problem
	title := http.StatusText(e.Status)
	if p != nil && p.Title != "" {
		title = p.Title
	}
	if title != "" {
		b.WriteString(" " + title)
	}
	if p == nil {
		if s := strings.Join(strings.Fields(e.Body), " "); s != "" {
			b.WriteString(": " + clip(s, 200))
		}
		return b.String()
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for i, fe := range p.Errors {
		if i == maxListedFieldErrors {
			fmt.Fprintf(&b, "; and %d more", len(p.Errors)-i)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(fe.String())
	}
	if p.ErrorsTruncated {
		b.WriteString(" (list truncated)")
	}
	return b.String()
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
