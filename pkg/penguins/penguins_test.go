package penguins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEmbeddedData(t *testing.T) {
	rows, err := Embedded{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 344 {
		t.Fatalf("rows = %d, want 344", len(rows))
	}
	var naSex, naBill, complete int
	for _, p := range rows {
		if p.Sex == SexNA {
			naSex++
		}
		if !p.BillLengthMM.Valid {
			naBill++
		}
		if len(p.MissingFields()) == 0 {
			complete++
		}
	}
	if naSex != 11 || naBill != 2 || complete != 333 {
		t.Errorf("NA sex = %d, NA bill = %d, complete = %d; want 11, 2, 333", naSex, naBill, complete)
	}
	first := rows[0]
	if first.Species != Adelie || first.Island != "Torgersen" || first.BillLengthMM.Float64 != 39.1 || first.Sex != Male || first.Year != 2007 {
		t.Errorf("first row = %+v", first)
	}
	if rows[3].BillLengthMM.Valid || rows[3].Sex != SexNA {
		t.Errorf("row 4 should be all NA, got %+v", rows[3])
	}
	dropped := Dropped(rows)
	if dropped["missing sex"] != 9 || dropped["missing bill_length_mm, body_mass_g, sex"] != 2 {
		t.Errorf("dropped = %v", dropped)
	}
}

func TestParseErrorsNameRowAndColumn(t *testing.T) {
	header := strings.Join(Columns, ",") + "\n"
	good := "Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n"
	cases := []struct {
		name, body, want string
	}{
		{"not a number", good + "Adelie,Torgersen,abc,18.7,181,3750,male,2007\n", `row 2, column "bill_length_mm": expected a number or NA (got "abc")`},
		{"negative", good + "Adelie,Torgersen,39,18.7,181,-5,male,2007\n", `row 2, column "body_mass_g": expected a positive, finite number or NA (got "-5")`},
		{"infinite", "Adelie,Torgersen,39,18.7,Inf,3000,male,2007\n", `row 1, column "flipper_length_mm"`},
		{"species", "Emperor,Torgersen,39,18.7,181,3000,male,2007\n", `row 1, column "species": expected one of Adelie, Chinstrap, Gentoo (got "Emperor")`},
		{"sex", "Adelie,Torgersen,39,18.7,181,3000,M,2007\n", `row 1, column "sex": expected female, male or NA (got "M")`},
		{"year", "Adelie,Torgersen,39,18.7,181,3000,male,NA\n", `row 1, column "year"`},
		{"island NA", "Adelie,NA,39,18.7,181,3000,male,2007\n", `row 1, column "island"`},
		{"short row", good + "Adelie,Torgersen,39\n", `row 2: wrong number of fields`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(header + c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("err is %T, want *ParseError", err)
			}
		})
	}
}

func TestParseHeaderAndEmpty(t *testing.T) {
	if _, err := ParseCSV(strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty input: %v", err)
	}
	if _, err := ParseCSV(strings.NewReader("species,island\nAdelie,Dream\n")); err == nil || !strings.Contains(err.Error(), "bill_length_mm") {
		t.Errorf("missing columns: %v", err)
	}
	if _, err := ParseCSV(strings.NewReader(strings.Join(Columns, ",") + "\n")); err == nil || !strings.Contains(err.Error(), "no data rows") {
		t.Errorf("header only: %v", err)
	}
	// Column order does not matter; extra columns are ignored.
	body := "year,sex,extra,body_mass_g,flipper_length_mm,bill_depth_mm,bill_length_mm,island,species\n2008,female,x,3400,190,17,40.5,Dream,Chinstrap\n"
	rows, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if p := rows[0]; p.Species != Chinstrap || p.BillLengthMM.Float64 != 40.5 || p.BodyMassG.Float64 != 3400 || p.Sex != Female {
		t.Errorf("reordered row = %+v", p)
	}
}

func TestCSVFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.csv")
	if err := os.WriteFile(path, EmbeddedCSV(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := CSVFile{Path: path}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	embedded, _ := Embedded{}.Load(context.Background())
	if Digest(fromFile) != Digest(embedded) {
		t.Error("same data from a file and embedded hash differently")
	}
	if _, err := (CSVFile{Path: filepath.Join(t.TempDir(), "none.csv")}).Load(context.Background()); err == nil {
		t.Error("missing file: no error")
	}
}

func TestDigestDependsOnData(t *testing.T) {
	rows, _ := Embedded{}.Load(context.Background())
	d := Digest(rows)
	if len(d) != 64 {
		t.Fatalf("digest %q", d)
	}
	changed := append([]Penguin(nil), rows...)
	changed[10].BodyMassG.Float64++
	if Digest(changed) == d {
		t.Error("changing a value did not change the digest")
	}
	changed = append([]Penguin(nil), rows...)
	changed[10].BodyMassG.Valid = false
	if Digest(changed) == d {
		t.Error("an NA did not change the digest")
	}
}

// TestSummarizeMatchesTwoPass checks the grouped summaries against a naive
// two-pass computation over the raw CSV text.
func TestSummarizeMatchesTwoPass(t *testing.T) {
	rows, _ := Embedded{}.Load(context.Background())
	groups := Summarize(rows)
	if len(groups) != 8 { // 3 species × 2 sexes + NA-sex groups for Adelie and Gentoo
		t.Fatalf("groups = %d, want 8", len(groups))
	}
	lines := strings.Split(strings.TrimSpace(string(EmbeddedCSV())), "\n")[1:]
	for _, g := range groups {
		for ci, m := range Measures {
			var xs []float64
			for _, l := range lines {
				f := strings.Split(l, ",")
				if f[0] != g.Species.String() || f[6] != g.Sex.String() || f[2+ci] == "NA" {
					continue
				}
				var v float64
				if _, err := fmt.Sscan(f[2+ci], &v); err != nil {
					t.Fatal(err)
				}
				xs = append(xs, v)
			}
			var sum float64
			for _, x := range xs {
				sum += x
			}
			mean := sum / float64(len(xs))
			var ss float64
			for _, x := range xs {
				ss += (x - mean) * (x - mean)
			}
			sd := math.Sqrt(ss / float64(len(xs)-1))
			got := g.Stats[m.Column]
			if got.N != len(xs) || !close(got.Mean, mean) || (len(xs) > 1 && !close(got.SD, sd)) {
				t.Errorf("%s %s %s = %+v, want n=%d mean=%g sd=%g", g.Species, g.Sex, m.Column, got, len(xs), mean, sd)
			}
		}
	}
	// Known values: Gentoo males weigh 5484.8 g on average (n = 61).
	for _, g := range groups {
		if g.Species == Gentoo && g.Sex == Male {
			if st := g.Stats["body_mass_g"]; st.N != 61 || math.Abs(st.Mean-5484.836) > 0.001 {
				t.Errorf("Gentoo male body mass = %+v", st)
			}
		}
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestWriteCSVRoundTrip: the embedded rows written and read back are the
// same rows, by value and by digest.
func TestWriteCSVRoundTrip(t *testing.T) {
	rows, err := ParseCSV(bytes.NewReader(EmbeddedCSV()))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	back, err := ParseCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rows) || Digest(back) != Digest(rows) {
		t.Errorf("%d rows written, %d read back, digests %s and %s", len(rows), len(back), Digest(rows), Digest(back))
	}
}
