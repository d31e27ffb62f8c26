package massmodel

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MetricsFile is the name of a version's pinned metrics, next to its
// artifact: <store>/<name>/<version>/metrics.json.
const MetricsFile = "metrics.json"

// PinnedMetrics are a version's metrics by period, as pinned in the store.
// Like an artifact, the file carries the sha256 of its own content and is
// refused when it does not match.
type PinnedMetrics struct {
	Name          string         `json:"name"`
	Version       string         `json:"version"`
	ContentSHA256 string         `json:"content_sha256"` // sha256 of the JSON with this field empty
	Updated       time.Time      `json:"updated"`
	Metrics       []PeriodMetric `json:"metrics"` // by period start
}

func (p PinnedMetrics) digest() (string, error) {
	p.ContentSHA256 = ""
	return digestJSON(p)
}

func (p PinnedMetrics) recordedDigest() string { return p.ContentSHA256 }

// ErrOverlap is wrapped by PinMetrics when new periods overlap pinned ones.
var ErrOverlap = errors.New("periods already pinned")

// Metrics reads and verifies the pinned metrics of a version. A version
// with nothing pinned has none (and no error); a version not in the store,
// or a file that is corrupt or edited, is an error.
func (s Store) Metrics(name, version string) ([]PeriodMetric, error) {
	p, err := s.readMetrics(name, version)
	if err != nil {
		return nil, err
	}
	return p.Metrics, nil
}

func (s Store) readMetrics(name, version string) (*PinnedMetrics, error) {
	if !ValidVersion(version) {
		return nil, fmt.Errorf("model store: %q is not a version id (want e.g. 20260101T120000Z-0123456789ab)", version)
	}
	dir := filepath.Join(s.Dir, name, version)
	if _, err := os.Stat(filepath.Join(dir, ArtifactFile)); err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}
	path := filepath.Join(dir, MetricsFile)
	var p PinnedMetrics
	if found, err := readHashed(path, &p); err != nil {
		return nil, err
	} else if !found {
		return &PinnedMetrics{Name: name, Version: version}, nil
	}
	if p.Name != name || p.Version != version {
		return nil, fmt.Errorf("model store: %s records %s %s", path, p.Name, p.Version)
	}
	return &p, nil
}

// PinMetrics adds metrics by period to a version's pinned metrics, written
// atomically (staged, flushed, renamed into place). As vetiver's
// vetiver_pin_metrics does, it refuses periods that overlap pinned ones,
// naming them, unless overwrite is set: then the overlapping pinned periods
// are replaced and the others kept. It returns the metrics now pinned.
func (s Store) PinMetrics(name, version string, add []PeriodMetric, overwrite bool, now time.Time) ([]PeriodMetric, error) {
	if _, _, err := s.Load(name, version); err != nil {
		return nil, err
	}
	old, err := s.readMetrics(name, version)
	if err != nil {
		return nil, err
	}
	for _, m := range add {
		if math.IsNaN(m.Estimate) || math.IsInf(m.Estimate, 0) {
			return nil, fmt.Errorf("model store: metric %s of %s is not finite", m.Metric, m.PeriodStart)
		}
	}
	var kept []PeriodMetric
	var overlaps []string
	for _, o := range old.Metrics {
		hit := false
		for _, m := range add {
			if overlap(o, m) {
				hit = true
				break
			}
		}
		if !hit {
			kept = append(kept, o)
			continue
		}
		if p := o.Period + " " + o.PeriodStart; !slices.Contains(overlaps, p) {
			overlaps = append(overlaps, p)
		}
	}
	if len(overlaps) > 0 && !overwrite {
		return nil, fmt.Errorf("%w for version %s: %s overlap the new periods; use -overwrite to replace them",
			ErrOverlap, version, strings.Join(overlaps, ", "))
	}
	all := append(kept, add...)
	slices.SortStableFunc(all, func(a, b PeriodMetric) int { return strings.Compare(a.PeriodStart, b.PeriodStart) })
	p := PinnedMetrics{Name: name, Version: version, Updated: now.UTC(), Metrics: all}
	if p.ContentSHA256, err = p.digest(); err != nil {
		return nil, fmt.Errorf("model store: encoding metrics: %w", err)
	}
	if err := writeHashed(filepath.Join(s.Dir, name, version), MetricsFile, p, nil); err != nil {
		return nil, err
	}
	return all, nil
}

// overlap reports whether two metrics' periods share a day.
func overlap(a, b PeriodMetric) bool {
	as, err1 := time.Parse(time.DateOnly, a.PeriodStart)
	bs, err2 := time.Parse(time.DateOnly, b.PeriodStart)
	if err1 != nil || err2 != nil {
		return a.PeriodStart == b.PeriodStart
	}
	return as.Before(PeriodEnd(bs, b.Period)) && bs.Before(PeriodEnd(as, a.Period))
}

// finish writes body to f, flushes it to disk, makes it readable like the
// store's other files and closes it.
func finish(f *os.File, body []byte) error {
	_, err := f.Write(body)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
