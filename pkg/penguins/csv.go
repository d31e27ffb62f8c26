package penguins

import (
	"bytes"
	"database/sql"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

//go:embed penguins.csv
var embeddedCSV []byte

// EmbeddedCSV returns a copy of the embedded penguins.csv (344 rows, CC0).
func EmbeddedCSV() []byte { return bytes.Clone(embeddedCSV) }

// NA is the literal that marks a missing value in the CSV.
const NA = "NA"

// ParseError reports a malformed value, naming where it is.
type ParseError struct {
	Row    int    // 1-based data row (the header is row 0)
	Column string // column name; empty for a whole-row problem
	Value  string
	Reason string
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d, column %q: %s (got %q)", e.Row, e.Column, e.Reason, e.Value)
}

// ParseCSV reads penguins in the published CSV layout. The header must name
// every column in Columns (in any order; extra columns are ignored). "NA" is
// the only accepted missing value, and only where the data set allows one:
// species, island and year are required.
func ParseCSV(r io.Reader) ([]Penguin, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("penguins csv: empty input, expected a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("penguins csv: header: %w", err)
	}
	idx := make(map[string]int, len(header))
	for i, h := range header {
		idx[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	col := make([]int, len(Columns))
	var missing []string
	for i, c := range Columns {
		j, ok := idx[c]
		if !ok {
			missing = append(missing, c)
		}
		col[i] = j
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("penguins csv: header lacks column(s) %s", strings.Join(missing, ", "))
	}

	var out []Penguin
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &ParseError{Row: row, Reason: pe.Err.Error()}
			}
			return nil, fmt.Errorf("penguins csv: row %d: %w", row, err)
		}
		field := func(i int) string { return strings.TrimSpace(rec[col[i]]) }
		p, err := parseRecord(row, field)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("penguins csv: no data rows after the header")
	}
	return out, nil
}

// parseRecord builds one Penguin from its fields, indexed as in Columns.
func parseRecord(row int, field func(int) string) (Penguin, error) {
	var p Penguin
	bad := func(c int, reason string) error {
		return &ParseError{Row: row, Column: Columns[c], Value: field(c), Reason: reason}
	}
	var ok bool
	if p.Species, ok = ParseSpecies(field(0)); !ok {
		return p, bad(0, "expected one of "+strings.Join(SpeciesNames(), ", "))
	}
	if p.Island = field(1); p.Island == "" || p.Island == NA {
		return p, bad(1, "expected an island name")
	}
	nums := []*sql.NullFloat64{&p.BillLengthMM, &p.BillDepthMM, &p.FlipperLengthMM, &p.BodyMassG}
	for i, dst := range nums {
		c := 2 + i
		v, err := parseMeasure(field(c))
		if err != nil {
			return p, bad(c, err.Error())
		}
		*dst = v
	}
	switch s := field(6); s {
	case NA:
		p.Sex = SexNA
	default:
		if p.Sex, ok = ParseSex(s); !ok {
			return p, bad(6, "expected female, male or NA")
		}
	}
	y, err := strconv.Atoi(field(7))
	if err != nil || y < 1900 || y > 2100 {
		return p, bad(7, "expected a year such as 2007")
	}
	p.Year = y
	return p, nil
}

// parseMeasure parses a positive, finite measurement or the NA literal.
func parseMeasure(s string) (sql.NullFloat64, error) {
	if s == NA {
		return sql.NullFloat64{}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return sql.NullFloat64{}, errors.New("expected a number or NA")
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return sql.NullFloat64{}, errors.New("expected a positive, finite number or NA")
	}
	return sql.NullFloat64{Float64: v, Valid: true}, nil
}

// WriteCSV writes rows in the published CSV layout (Columns, "NA" for a
// missing value): what ParseCSV reads back as the same rows.
func WriteCSV(w io.Writer, rows []Penguin) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	num := func(v sql.NullFloat64) string {
		if !v.Valid {
			return NA
		}
		return strconv.FormatFloat(v.Float64, 'g', -1, 64)
	}
	for _, p := range rows {
		rec := []string{p.Species.String(), p.Island, num(p.BillLengthMM), num(p.BillDepthMM), num(p.FlipperLengthMM),
			num(p.BodyMassG), p.Sex.String(), strconv.Itoa(p.Year)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
