// Package predlog is the model service's durable prediction log: every
// scored record as one JSON line, in files that rotate by size and are
// never rewritten. The Writer keeps the disk off the request path; Read
// and ReadDir give the records back (to evaluate, say), skipping and
// counting lines that do not parse.
//
// A directory holds files named
//
//	predictions-20261201T051500.123Z-000001.jsonl
//
// (the UTC time the file was started, then a sequence number), so that
// names sort by time. The file being written ends in ".jsonl.partial" and
// is renamed to ".jsonl" once it is full, when the service stops, or, after
// a crash, when it next starts.
package predlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File name parts.
const (
	prefix        = "predictions-"
	Ext           = ".jsonl"
	PartialSuffix = Ext + ".partial"
	timeLayout    = "20060102T150405.000Z"
)

// Record is one scored record: one line of the log.
type Record struct {
	Time         time.Time `json:"time"`       // when it was scored (UTC)
	RequestID    string    `json:"request_id"` // X-Request-ID of the request
	Row          int       `json:"row"`        // index of the record in its request
	Endpoint     string    `json:"endpoint"`   // "predict" or "infer" (/v2)
	ModelVersion string    `json:"model_version"`

	BillLengthMM float64 `json:"bill_length_mm"`
	Species      string  `json:"species"` // Adelie, Chinstrap or Gentoo
	Sex          string  `json:"sex"`     // female or male

	Prediction float64 `json:"prediction"` // body mass, grams
	// The 95% prediction interval, when the request asked for it (/v2
	// always computes it). A number JSON cannot hold (never expected) is
	// written as null and read as nil.
	Lower95 *float64 `json:"lower_95,omitempty"`
	Upper95 *float64 `json:"upper_95,omitempty"`
}

// valid reports whether a decoded line has the fields every record has.
func (r *Record) valid(hasPrediction bool) bool {
	return !r.Time.IsZero() && r.RequestID != "" && r.ModelVersion != "" && r.Endpoint != "" &&
		r.Species != "" && r.Sex != "" && hasPrediction
}

// ReadStats counts what Read and ReadDir saw.
type ReadStats struct {
	Files   int // files read (ReadDir only)
	Records int // records handed to the callback
	Corrupt int // lines skipped: not JSON, or missing a field every record has
}

// Read calls fn with each record in r, in order. A line that does not parse
// (a torn last line after a crash, say) is skipped and counted, never
// fatal; only an error reading r, or one fn returns, stops it.
func Read(r io.Reader, fn func(Record) error) (ReadStats, error) {
	var st ReadStats
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			rec, ok := parseLine(line)
			if !ok {
				st.Corrupt++
			} else {
				st.Records++
				if ferr := fn(rec); ferr != nil {
					return st, ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

func parseLine(line []byte) (Record, bool) {
	var w struct {
		Record
		Prediction *float64 `json:"prediction"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return Record{}, false
	}
	if w.Prediction != nil {
		w.Record.Prediction = *w.Prediction
	}
	return w.Record, w.valid(w.Prediction != nil)
}

// ReadDir reads every log file in dir, finished and partial, oldest first.
func ReadDir(dir string, fn func(Record) error) (ReadStats, error) {
	var st ReadStats
	names, err := Files(dir)
	if err != nil {
		return st, err
	}
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return st, err
		}
		s, err := Read(f, fn)
		f.Close()
		st.Files++
		st.Records += s.Records
		st.Corrupt += s.Corrupt
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// Files lists the log files in dir, finished and partial, in name (time)
// order.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, prefix) && (strings.HasSuffix(n, Ext) || strings.HasSuffix(n, PartialSuffix)) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}
