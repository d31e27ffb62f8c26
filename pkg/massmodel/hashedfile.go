package massmodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The store's small JSON files beside its artifacts (a version's pinned
// metrics, a model's aliases) are written and read one way, here: each
// carries the sha256 of its own JSON with that field empty, is written
// staged, flushed and renamed into place, and is refused when it does not
// match its hash.

// hashedFile is such a file's content.
type hashedFile interface {
	// digest is the sha256 of the JSON with the hash field empty.
	digest() (string, error)
	recordedDigest() string
}

// digestJSON is the hex sha256 of v's JSON.
func digestJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// readHashed decodes path strictly into dst and checks its hash. found is
// false, with no error, when the file does not exist.
func readHashed(path string, dst hashedFile) (found bool, err error) {
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("model store: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return true, fmt.Errorf("model store: %s is corrupt or truncated: %w", path, err)
	}
	got, err := dst.digest()
	if err != nil {
		return true, fmt.Errorf("model store: %s: %w", path, err)
	}
	if got != dst.recordedDigest() {
		return true, fmt.Errorf("model store: %s: content hash mismatch: recorded %.12s…, computed %.12s… (modified or corrupt)", path, dst.recordedDigest(), got)
	}
	return true, nil
}

// writeHashed writes v (its hash already set) as dir/name: staged in a
// hidden file beside it and flushed, then renamed over it and the directory
// flushed, so readers see the old file or the new one, never part. before,
// when not nil, runs between staging and renaming; if it fails, or the
// rename does, the old file stays, and the undo before returned is run.
func writeHashed(dir, name string, v hashedFile, before func() (undo func() error, err error)) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("model store: encoding %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+name+"-")
	if err != nil {
		return fmt.Errorf("model store: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := finish(tmp, append(body, '\n')); err != nil {
		return fmt.Errorf("model store: %w", err)
	}
	undo := func() error { return nil }
	if before != nil {
		if undo, err = before(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return errors.Join(fmt.Errorf("model store: writing %s: %w", name, err), undo())
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("model store: %w", err)
	}
	return nil
}
