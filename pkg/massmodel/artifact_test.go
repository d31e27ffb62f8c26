package massmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func trained(t *testing.T) *Artifact {
	t.Helper()
	a, _, err := TrainFrom(context.Background(), penguins.Embedded{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArtifactContents(t *testing.T) {
	a := trained(t)
	if !ValidVersion(a.Version) || !strings.HasPrefix(a.Version, "20261126T120000Z-") {
		t.Errorf("version = %q", a.Version)
	}
	if a.Data.Rows != 344 || a.Data.TrainingRows != 333 || a.Data.Source != "embedded:penguins.csv" {
		t.Errorf("data = %+v", a.Data)
	}
	rows, _ := penguins.Embedded{}.Load(context.Background())
	if a.Data.SHA256 != penguins.Digest(rows) {
		t.Error("training-data hash is not the digest of the rows")
	}
	if len(a.Golden) != 6 || len(a.Coefficients) != P || a.Metrics.N != 333 {
		t.Errorf("golden = %d, coefficients = %d, n = %d", len(a.Golden), len(a.Coefficients), a.Metrics.N)
	}
	if in := a.Schema.Inputs[0]; *in.Min != 32.1 || *in.Max != 59.6 {
		t.Errorf("bill length range = [%g, %g]", *in.Min, *in.Max)
	}
	// Same data and time: same content and version (deterministic).
	if b := trained(t); b.Version != a.Version {
		t.Errorf("retraining changed the version: %s then %s", a.Version, b.Version)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if _, _, err := s.Load(Name, ""); !errors.Is(err, ErrNoVersions) {
		t.Fatalf("empty store: err = %v, want ErrNoVersions", err)
	}
	a := trained(t)
	dir, err := s.Write(a)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(s.Dir, Name, a.Version) {
		t.Errorf("written to %s", dir)
	}
	got, m, err := s.Load(Name, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != a.Version || got.ContentSHA256 != a.ContentSHA256 || m.Coefficients()[1] != a.Coefficients[1].Estimate {
		t.Errorf("loaded %s, wrote %s", got.Version, a.Version)
	}
	// Writing the same version again is a no-op.
	if _, err := s.Write(a); err != nil {
		t.Errorf("rewriting the same artifact: %v", err)
	}
	// A newer version becomes the default; the older one stays loadable.
	rows, _ := penguins.Embedded{}.Load(context.Background())
	f, _ := Train(rows[:300])
	newer, err := NewArtifact("test", rows[:300], f, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(newer); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Load(Name, ""); got.Version != newer.Version {
		t.Errorf("newest = %s, want %s", got.Version, newer.Version)
	}
	if got, _, err := s.Load(Name, a.Version); err != nil || got.Version != a.Version {
		t.Errorf("pinned load: %v", err)
	}
	vs, _ := s.Versions(Name)
	if len(vs) != 2 || vs[0] != a.Version {
		t.Errorf("versions = %v", vs)
	}
	if _, _, err := s.Load(Name, "latest"); err == nil || !strings.Contains(err.Error(), "not a version id") {
		t.Errorf("bad version id: %v", err)
	}
	if _, _, err := s.Load(Name, "20200101T000000Z-000000000000"); err == nil {
		t.Error("missing version: no error")
	}
}

func TestStoreIgnoresHalfWrittenVersions(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	a := trained(t)
	if _, err := s.Write(a); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves only a hidden staging directory behind.
	stage := filepath.Join(s.Dir, Name, ".tmp-20991231T000000Z-ffffffffffff-123")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stage, ArtifactFile), []byte(`{"name":`), 0o644)
	got, _, err := s.Load(Name, "")
	if err != nil || got.Version != a.Version {
		t.Fatalf("load with a staging dir present: %v, %v", got, err)
	}
}

func TestCorruptArtifactsAreRefused(t *testing.T) {
	a := trained(t)
	good, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*Artifact)) []byte {
		var c Artifact
		if err := json.Unmarshal(good, &c); err != nil {
			t.Fatal(err)
		}
		f(&c)
		b, _ := json.Marshal(c)
		return b
	}
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "empty or truncated"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"not json", []byte("\x00\x01garbage"), "not valid JSON"},
		{"trailing data", append(append([]byte{}, good...), []byte("{}")...), "trailing data"},
		{"unknown field", bytes.Replace(good, []byte(`"name"`), []byte(`"pickle":1,"name"`), 1), "unknown field"},
		{"coefficient changed", edit(func(c *Artifact) { c.Coefficients[1].Estimate += 1 }), "content hash mismatch"},
		{"hash recomputed but golden wrong", edit(func(c *Artifact) {
			c.Coefficients[1].Estimate += 1
			c.ContentSHA256 = c.digest()
			c.Version = c.Version[:17] + c.ContentSHA256[:12]
		}), "golden example 0 not reproduced"},
		{"version does not name hash", edit(func(c *Artifact) { c.Version = c.Version[:17] + "000000000000" }), "does not name its content hash"},
		{"wrong model", edit(func(c *Artifact) { c.Name = "iris" }), "for model \"iris\""},
		{"missing coefficient", edit(func(c *Artifact) { c.Coefficients = c.Coefficients[:4] }), "4 coefficients"},
		{"no golden", edit(func(c *Artifact) {
			c.Golden = nil
			c.ContentSHA256 = c.digest()
			c.Version = c.Version[:17] + c.ContentSHA256[:12]
		}), "no golden example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			version := a.Version // stored under the version it claims, if any
			var claimed struct{ Version string }
			if json.Unmarshal(c.body, &claimed) == nil && ValidVersion(claimed.Version) {
				version = claimed.Version
			}
			dir := filepath.Join(s.Dir, Name, version)
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(filepath.Join(dir, ArtifactFile), c.body, 0o644); err != nil {
				t.Fatal(err)
			}
			_, m, err := s.Load(Name, version)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if m != nil {
				t.Error("a refused artifact still returned a model")
			}
		})
	}
}

// Writers racing to publish the same version (pods seeding one shared
// store) all succeed, and the version is there once, complete.
func TestStoreConcurrentWritesOfOneVersion(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	a := trained(t)
	errs := make(chan error, 16)
	var start sync.WaitGroup
	start.Add(1)
	for range cap(errs) {
		go func() {
			start.Wait()
			_, err := s.Write(a)
			errs <- err
		}()
	}
	start.Done()
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("a concurrent write of the same content failed: %v", err)
		}
	}
	if vs, err := s.Versions(Name); err != nil || len(vs) != 1 || vs[0] != a.Version {
		t.Fatalf("versions = %v, %v", vs, err)
	}
	if _, _, err := s.Load(Name, a.Version); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir, Name))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
