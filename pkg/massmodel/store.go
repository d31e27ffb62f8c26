package massmodel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

// Store is a model board on the filesystem, laid out like a vetiver pins
// board: <Dir>/<model name>/<version>/model.json.
type Store struct{ Dir string }

// ErrNoVersions is returned when the store holds no version of a model.
var ErrNoVersions = errors.New("model store has no versions")

var versionPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

// ValidVersion reports whether v has the form of a version id.
func ValidVersion(v string) bool { return versionPattern.MatchString(v) }

// Write stores a atomically: the version directory appears complete or not
// at all. Writing a version that already exists with the same content is a
// no-op; with different content it is an error.
func (s Store) Write(a *Artifact) (string, error) {
	if !ValidVersion(a.Version) {
		return "", fmt.Errorf("model store: invalid version %q", a.Version)
	}
	body, err := a.Marshal()
	if err != nil {
		return "", fmt.Errorf("model store: encoding artifact: %w", err)
	}
	parent := filepath.Join(s.Dir, a.Name)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("model store: %w", err)
	}
	final := filepath.Join(parent, a.Version)
	if old, err := os.ReadFile(filepath.Join(final, ArtifactFile)); err == nil {
		if bytes.Equal(old, body) {
			return final, nil
		}
		return "", fmt.Errorf("model store: version %s already exists with different content", a.Version)
	}
	// Stage in a hidden sibling directory, flush it, then rename it into
	// place; readers skip hidden entries, and rename is atomic.
	tmp, err := os.MkdirTemp(parent, ".tmp-"+a.Version+"-")
	if err != nil {
		return "", fmt.Errorf("model store: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if err := writeFileSync(filepath.Join(tmp, ArtifactFile), body); err != nil {
		return "", fmt.Errorf("model store: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("model store: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another writer (a second pod seeding a shared store) may have
		// published the same version meanwhile: identical content is the
		// no-op it would have been had it come first.
		if old, rerr := os.ReadFile(filepath.Join(final, ArtifactFile)); rerr == nil && bytes.Equal(old, body) {
			return final, nil
		}
		return "", fmt.Errorf("model store: publishing version: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return "", fmt.Errorf("model store: %w", err)
	}
	return final, nil
}

func writeFileSync(path string, body []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Versions lists the versions of the named model, oldest first. Version ids
// begin with a UTC timestamp, so lexical order is time order.
func (s Store) Versions(name string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidVersion(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Load reads and verifies a version of the named model; an empty version
// means the newest. A corrupt, truncated or inconsistent artifact is refused.
func (s Store) Load(name, version string) (*Artifact, *Model, error) {
	if version == "" {
		vs, err := s.Versions(name)
		if err != nil {
			return nil, nil, err
		}
		if len(vs) == 0 {
			return nil, nil, fmt.Errorf("%w: %s", ErrNoVersions, filepath.Join(s.Dir, name))
		}
		version = vs[len(vs)-1]
	}
	if !ValidVersion(version) {
		return nil, nil, fmt.Errorf("model store: %q is not a version id (want e.g. 20260101T120000Z-0123456789ab)", version)
	}
	path := filepath.Join(s.Dir, name, version, ArtifactFile)
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model store: %w", err)
	}
	a, err := DecodeArtifact(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("model store: %s: %w", path, err)
	}
	if a.Version != version {
		return nil, nil, fmt.Errorf("model store: %s records version %q", path, a.Version)
	}
	m, err := a.Verify()
	if err != nil {
		return nil, nil, fmt.Errorf("model store: %s: %w", path, err)
	}
	return a, m, nil
}

// TrainFrom reads src, fits the model and returns the verified artifact and
// model. The artifact is round-tripped through its JSON form and verified, so
// a model trained in memory is held to the same checks as one loaded from a
// store.
func TrainFrom(ctx context.Context, src penguins.Source, now time.Time) (*Artifact, *Model, error) {
	rows, err := src.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	fit, err := Train(rows)
	if err != nil {
		return nil, nil, err
	}
	a, err := NewArtifact(src.Describe(), rows, fit, now)
	if err != nil {
		return nil, nil, err
	}
	body, err := a.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("encoding artifact: %w", err)
	}
	back, err := DecodeArtifact(bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	m, err := back.Verify()
	if err != nil {
		return nil, nil, fmt.Errorf("verifying new artifact: %w", err)
	}
	return back, m, nil
}

// TrainToStore fits the model on src and writes the verified version into
// the store at dir, reading it back through Load as a server would. Nothing
// is written unless the data loads and the fit verifies, so a failure
// leaves the store, and whatever is served from it, untouched.
func TrainToStore(ctx context.Context, src penguins.Source, dir string, now time.Time) (*Artifact, string, error) {
	a, _, err := TrainFrom(ctx, src, now)
	if err != nil {
		return nil, "", err
	}
	s := Store{Dir: dir}
	path, err := s.Write(a)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := s.Load(a.Name, a.Version); err != nil {
		return nil, "", fmt.Errorf("written version does not verify: %w", err)
	}
	return a, path, nil
}
