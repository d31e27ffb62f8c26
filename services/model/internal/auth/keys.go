// Package auth decides who may call the model API: API keys with scopes
// from a keys file (re-read when it changes), a token bucket per key, and a
// limit on failed attempts per client address.
//
// The keys file holds one key per line: its name, the SHA-256 of the key,
// its scopes and when it was created. The key itself is never stored.
//
//	# name     sha256:<hex of SHA-256(key)>        scopes        created
//	frontend   sha256:9f86d081884c7d65…            predict,read  2026-12-01T06:40:00Z
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scope is what a key may do.
type Scope string

// The scopes: Predict for scoring (/predict, /v2/.../infer), Read for what
// the API says about the model (/metadata, /monitoring/*, ...).
const (
	Predict Scope = "predict"
	Read    Scope = "read"
)

// Scopes lists every scope, in the order the file writes them.
var Scopes = []Scope{Predict, Read}

// MinKeyLength is the shortest key accepted: from a client, from `keys
// add -stdin`, or from the frontend's key file. Generated keys are 43
// characters (32 random bytes, base64url).
const MinKeyLength = 32

// keyBytes is the entropy of a generated key.
const keyBytes = 32

// Entry is one key of the file: everything about it but the key.
type Entry struct {
	Name    string
	Hash    [sha256.Size]byte
	Scopes  []Scope
	Created time.Time
}

// Has reports whether the key has scope s.
func (e Entry) Has(s Scope) bool { return slices.Contains(e.Scopes, s) }

// ScopeList is the scopes as the file writes them: "predict,read".
func (e Entry) ScopeList() string {
	parts := make([]string, len(e.Scopes))
	for i, s := range e.Scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName reports whether name may name a key: lowercase letters,
// digits, '.', '_' and '-', starting with a letter or digit, at most 64
// characters. Names appear in logs and metric labels.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// ParseScopes reads "predict,read". Every scope must be known and appear
// once.
func ParseScopes(s string) ([]Scope, error) {
	if s == "" {
		return nil, errors.New("no scopes (want predict, read or predict,read)")
	}
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		sc := Scope(p)
		switch {
		case !slices.Contains(Scopes, sc):
			return nil, fmt.Errorf("unknown scope %q (want predict or read)", p)
		case slices.Contains(out, sc):
			return nil, fmt.Errorf("scope %q given twice", p)
		}
		out = append(out, sc)
	}
	// The file's order, whatever the order given.
	slices.SortFunc(out, func(a, b Scope) int { return slices.Index(Scopes, a) - slices.Index(Scopes, b) })
	return out, nil
}

// HashKey returns the SHA-256 of a key, as the file records it.
func HashKey(key string) [sha256.Size]byte { return sha256.Sum256([]byte(key)) }

// CheckKey says what is wrong with a key that is to be used or stored: too
// short, or characters outside printable ASCII (a key travels in an HTTP
// header).
func CheckKey(key string) error {
	if len(key) < MinKeyLength {
		return fmt.Errorf("the key is %d characters, shorter than the minimum %d", len(key), MinKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return fmt.Errorf("the key has a character outside printable ASCII at byte %d", i)
		}
	}
	return nil
}

// NewKey returns a fresh random key: 32 bytes from crypto/rand, base64url.
func NewKey() string {
	b := make([]byte, keyBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Parse reads a keys file's content. Every error names the file (path) and
// the line; all of them are reported, not only the first.
func Parse(path string, data []byte) ([]Entry, error) {
	var (
		entries []Entry
		errs    []error
		names   = map[string]int{}
		hashes  = map[[sha256.Size]byte]int{}
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("keys file %s line %d: %s", path, n, fmt.Sprintf(format, args...)))
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			bad("want 4 fields (name, sha256:<hex>, scopes, created), got %d", len(f))
			continue
		}
		e := Entry{Name: f[0]}
		if !ValidName(e.Name) {
			bad("name %q: want lowercase letters, digits, '.', '_' or '-', at most 64", e.Name)
		} else if first, ok := names[e.Name]; ok {
			bad("duplicate name %q (first on line %d)", e.Name, first)
		} else {
			names[e.Name] = n
		}
		hexHash, ok := strings.CutPrefix(f[1], "sha256:")
		h, err := hex.DecodeString(hexHash)
		switch {
		case !ok || err != nil || len(h) != sha256.Size || hexHash != strings.ToLower(hexHash):
			// Not quoted back: the field may be a key pasted where its
			// hash belongs, and the message goes to the logs.
			bad("the hash field (%d characters) is not sha256: and 64 lowercase hex digits; a key itself is never stored, only `keys add`'s hash of it", len(f[1]))
		default:
			copy(e.Hash[:], h)
			if first, ok := hashes[e.Hash]; ok {
				bad("the same key as line %d", first)
			}
			hashes[e.Hash] = n
		}
		if e.Scopes, err = ParseScopes(f[2]); err != nil {
			bad("%v", err)
		}
		if e.Created, err = time.Parse(time.RFC3339, f[3]); err != nil {
			bad("created %q: want an RFC 3339 time such as 2026-12-01T06:40:00Z", f[3])
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("keys file %s: %w", path, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return entries, nil
}

// Load reads and parses the keys file at path.
func Load(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	return Parse(path, data)
}

const fileHeader = `# model-service API keys, one a line: name, SHA-256 of the key, scopes,
# created. The keys themselves are never stored. Edit with
# model-service keys add|list|revoke; the service re-reads this file when
# it changes.
`

// format writes entries as a keys file.
func format(entries []Entry) []byte {
	var b bytes.Buffer
	b.WriteString(fileHeader)
	for _, e := range entries {
		fmt.Fprintf(&b, "%s sha256:%x %s %s\n", e.Name, e.Hash, e.ScopeList(), e.Created.UTC().Format(time.RFC3339))
	}
	return b.Bytes()
}

// Add appends a key to the file at path (creating it if need be) and
// returns the key, which is not stored anywhere: print it once. key is the
// key to store, or "" for a fresh random one. Concurrent edits of the file
// are serialised, and each is written atomically.
func Add(path, name string, scopes []Scope, key string, now time.Time) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("name %q: want lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64", name)
	}
	if len(scopes) == 0 {
		return "", errors.New("no scopes (want predict, read or predict,read)")
	}
	if key == "" {
		key = NewKey()
	} else if err := CheckKey(key); err != nil {
		return "", err
	}
	err := edit(path, true, func(entries []Entry) ([]Entry, error) {
		h := HashKey(key)
		for _, e := range entries {
			if e.Name == name {
				return nil, fmt.Errorf("a key named %q exists (created %s); revoke it first or pick another name", name, e.Created.Format(time.RFC3339))
			}
			if e.Hash == h {
				return nil, fmt.Errorf("this key is already in the file, as %q", e.Name)
			}
		}
		return append(entries, Entry{Name: name, Hash: h, Scopes: scopes, Created: now.UTC().Truncate(time.Second)}), nil
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

// Revoke removes the key named name from the file at path.
func Revoke(path, name string) error {
	return edit(path, false, func(entries []Entry) ([]Entry, error) {
		i := slices.IndexFunc(entries, func(e Entry) bool { return e.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("no key named %q in %s", name, path)
		}
		return slices.Delete(entries, i, i+1), nil
	})
}

// edit changes the keys file under an exclusive lock on its directory (so
// concurrent edits queue rather than lose each other's entries), then
// writes it atomically: staged in a hidden file beside it, flushed,
// renamed over it and the directory flushed. A file that does not parse is
// not edited.
func edit(path string, create bool, change func([]Entry) ([]Entry, error)) error {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keys file: %w", err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("keys file: locking %s: %w", dir, err)
	}
	defer syscall.Flock(int(d.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing d unlocks too

	var entries []Entry
	mode := os.FileMode(0o644) // hashes only; the services' non-root user must read it
	switch fi, err := os.Stat(path); {
	case err == nil:
		mode = fi.Mode().Perm()
		if entries, err = Load(path); err != nil {
			return err
		}
	case errors.Is(err, os.ErrNotExist) && create:
	default:
		return fmt.Errorf("keys file: %w", err)
	}
	if entries, err = change(entries); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("keys file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(format(entries))
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = d.Sync()
	}
	if err != nil {
		return fmt.Errorf("keys file: writing %s: %w", path, err)
	}
	return nil
}
