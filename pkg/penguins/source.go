package penguins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
)

// Source is where training reads the penguins from.
type Source interface {
	// Describe names the source for logs and model metadata; it never
	// contains credentials.
	Describe() string
	// Load reads every row.
	Load(ctx context.Context) ([]Penguin, error)
}

// Embedded is the data set compiled into the binary; it is the default source.
type Embedded struct{}

// Describe implements Source.
func (Embedded) Describe() string { return "embedded:penguins.csv" }

// Load implements Source.
func (Embedded) Load(context.Context) ([]Penguin, error) {
	rows, err := ParseCSV(bytes.NewReader(embeddedCSV))
	if err != nil {
		return nil, fmt.Errorf("embedded penguins.csv: %w", err)
	}
	return rows, nil
}

// CSVFile reads the penguins from a CSV file in the published layout.
type CSVFile struct{ Path string }

// Describe implements Source.
func (f CSVFile) Describe() string { return "file:" + f.Path }

// Load implements Source.
func (f CSVFile) Load(context.Context) ([]Penguin, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("penguins csv: %w", err)
	}
	defer fh.Close()
	rows, err := ParseCSV(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return rows, nil
}

// Digest is the sha256 of rows in a canonical text form (one line per row,
// columns as in Columns, NA for missing values, numbers in Go's shortest
// round-trip form). It depends only on the data, not on the source's
// formatting, so the same rows read from a CSV file or a database hash alike.
func Digest(rows []Penguin) string {
	h := sha256.New()
	var buf []byte
	num := func(v float64, ok bool) {
		if ok {
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		} else {
			buf = append(buf, NA...)
		}
		buf = append(buf, ',')
	}
	for _, p := range rows {
		buf = buf[:0]
		buf = append(buf, p.Species.String()...)
		buf = append(buf, ',')
		buf = append(buf, p.Island...)
		buf = append(buf, ',')
		num(p.BillLengthMM.Float64, p.BillLengthMM.Valid)
		num(p.BillDepthMM.Float64, p.BillDepthMM.Valid)
		num(p.FlipperLengthMM.Float64, p.FlipperLengthMM.Valid)
		num(p.BodyMassG.Float64, p.BodyMassG.Valid)
		buf = append(buf, p.Sex.String()...)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(p.Year), 10)
		buf = append(buf, '\n')
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
