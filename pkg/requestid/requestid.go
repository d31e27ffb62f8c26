// Package requestid carries the id that follows one request through both
// services' logs: in the X-Request-ID header on the wire and in the context
// inside a process.
package requestid

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Header is the HTTP header that carries the id.
const Header = "X-Request-ID"

// Key is the context key of the id. With stores the id under it; a
// context type of a caller's own may answer it with a Carrier instead.
type Key struct{}

// Carrier carries a request id together with other per-request state of
// its caller's, in one allocation: pkg/service's Observe keeps the id
// with the name of the API key the request presented.
type Carrier interface{ RequestID() string }

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, Key{}, id)
}

// From returns the id carried by ctx, or "".
func From(ctx context.Context) string {
	switch v := ctx.Value(Key{}).(type) {
	case string:
		return v
	case Carrier:
		return v.RequestID()
	}
	return ""
}

// New returns a random 128-bit id in hex. An id must be unique, not secret:
// it comes from the runtime's per-thread ChaCha8 generator, seeded by the
// OS, which costs no system call per request.
func New() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// Valid accepts ids a client may reasonably send (UUIDs, trace ids) and
// nothing that could forge log lines or bloat them.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
