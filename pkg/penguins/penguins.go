// Package penguins holds the Palmer penguins data set: typed records, the
// embedded CSV, parsing with row- and column-level errors, group summaries and
// the data sources that training reads from.
package penguins

import (
	"database/sql"
	"fmt"
	"strings"
)

// Species is a penguin species. The zero value is invalid.
type Species uint8

// The species in the data set, in the order of their factor levels in R.
const (
	Adelie Species = iota + 1
	Chinstrap
	Gentoo
)

// AllSpecies lists every species in level order.
var AllSpecies = []Species{Adelie, Chinstrap, Gentoo}

var speciesNames = [...]string{"", "Adelie", "Chinstrap", "Gentoo"}

func (s Species) String() string {
	if int(s) < len(speciesNames) && s != 0 {
		return speciesNames[s]
	}
	return fmt.Sprintf("Species(%d)", uint8(s))
}

// Valid reports whether s is one of the known species.
func (s Species) Valid() bool { return s >= Adelie && s <= Gentoo }

// ParseSpecies returns the species with exactly the given name.
func ParseSpecies(name string) (Species, bool) {
	for _, s := range AllSpecies {
		if speciesNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// SpeciesNames lists the valid species names in level order.
func SpeciesNames() []string { return []string{"Adelie", "Chinstrap", "Gentoo"} }

// Sex is a penguin's sex. SexNA marks a record where it was not recorded.
type Sex uint8

// The sexes in the data set; SexNA is the explicit missing value.
const (
	SexNA Sex = iota
	Female
	Male
)

// AllSexes lists the recorded sexes in level order (female is the baseline).
var AllSexes = []Sex{Female, Male}

func (s Sex) String() string {
	switch s {
	case Female:
		return "female"
	case Male:
		return "male"
	case SexNA:
		return "NA"
	}
	return fmt.Sprintf("Sex(%d)", uint8(s))
}

// Valid reports whether s is a recorded sex (not NA).
func (s Sex) Valid() bool { return s == Female || s == Male }

// ParseSex returns the sex with exactly the given name ("female" or "male").
func ParseSex(name string) (Sex, bool) {
	switch name {
	case "female":
		return Female, true
	case "male":
		return Male, true
	}
	return SexNA, false
}

// SexNames lists the valid sex names in level order.
func SexNames() []string { return []string{"female", "male"} }

// Penguin is one row of the data set. Measurements that were not recorded
// (NA in the CSV) have Valid == false.
type Penguin struct {
	Species         Species
	Island          string
	BillLengthMM    sql.NullFloat64
	BillDepthMM     sql.NullFloat64
	FlipperLengthMM sql.NullFloat64
	BodyMassG       sql.NullFloat64
	Sex             Sex
	Year            int
}

// Columns are the CSV columns, in the order of the published file.
var Columns = []string{"species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"}

// Measure names one numeric measurement of a penguin.
type Measure struct {
	Column string // CSV column name, e.g. "bill_length_mm"
	Label  string // human label with unit, e.g. "Bill length (mm)"
	Get    func(Penguin) sql.NullFloat64
}

// Measures lists the four numeric measurements.
var Measures = []Measure{
	{"bill_length_mm", "Bill length (mm)", func(p Penguin) sql.NullFloat64 { return p.BillLengthMM }},
	{"bill_depth_mm", "Bill depth (mm)", func(p Penguin) sql.NullFloat64 { return p.BillDepthMM }},
	{"flipper_length_mm", "Flipper length (mm)", func(p Penguin) sql.NullFloat64 { return p.FlipperLengthMM }},
	{"body_mass_g", "Body mass (g)", func(p Penguin) sql.NullFloat64 { return p.BodyMassG }},
}

// MissingFields names the model-relevant fields of p that are NA, in
// column order; an empty result means p is a complete case for the model.
func (p Penguin) MissingFields() []string {
	var miss []string
	if !p.BillLengthMM.Valid {
		miss = append(miss, "bill_length_mm")
	}
	if !p.BodyMassG.Valid {
		miss = append(miss, "body_mass_g")
	}
	if !p.Sex.Valid() {
		miss = append(miss, "sex")
	}
	return miss
}

// DropReason summarises why a row was left out of training.
func DropReason(missing []string) string {
	return "missing " + strings.Join(missing, ", ")
}
