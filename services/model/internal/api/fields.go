package api

import (
	"fmt"
	"math"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// Field names of the two record forms of /predict; the first three are also
// the input tensors of the Open Inference Protocol.
const (
	fBill      = "bill_length_mm"
	fSpecies   = "species"
	fSex       = "sex"
	fChinstrap = "species_Chinstrap"
	fGentoo    = "species_Gentoo"
	fMale      = "sex_male"
)

// badValue says what is wrong with one field's value: what was sent and
// what was expected. Both /predict and /v2 check bill_length_mm, species
// and sex here, so the two give the same answer for the same value; each
// adds the JSON pointer, which depends on its body's shape.
type badValue struct {
	detail, expected string
	allowed          []string
}

func (b *badValue) at(pointer string) modelapi.FieldError {
	return modelapi.FieldError{Pointer: pointer, Detail: b.detail, Expected: b.expected, Allowed: b.allowed}
}

// wrongType is a value of the wrong JSON type for field name; got
// describes it ("a string (\"x\")", "null", …).
func wrongType(name, got string) *badValue {
	return &badValue{detail: "got " + got, expected: expectation(name), allowed: allowed(name)}
}

// checkBill checks a bill length; sent gives the number as it was written
// (1e999, not +Inf), and is called only for a bad one.
func checkBill(x float64, sent fmt.Stringer) *badValue {
	why := massmodel.CheckBillLength(x)
	if why == "" {
		return nil
	}
	detail := "got " + clip(sent.String(), maxEcho)
	if math.IsInf(x, 0) {
		detail += ", which overflows a 64-bit float"
	}
	return &badValue{detail: detail, expected: why}
}

func checkSpecies(s string) (penguins.Species, *badValue) {
	sp, ok := penguins.ParseSpecies(s)
	if !ok {
		return sp, &badValue{detail: "unknown species " + quote(s), expected: expectation(fSpecies), allowed: allowed(fSpecies)}
	}
	return sp, nil
}

func checkSex(s string) (penguins.Sex, *badValue) {
	sx, ok := penguins.ParseSex(s)
	if !ok {
		return sx, &badValue{detail: "unknown sex " + quote(s), expected: expectation(fSex), allowed: allowed(fSex)}
	}
	return sx, nil
}

// expectation says what a field must hold.
func expectation(name string) string {
	switch name {
	case fBill:
		return "a number (millimetres)"
	case fSpecies:
		return "one of the species the model was trained on"
	case fSex:
		return "the sex of the penguin"
	default:
		return "true or false (or 1 or 0)"
	}
}

func allowed(name string) []string {
	switch name {
	case fSpecies:
		return penguins.SpeciesNames()
	case fSex:
		return penguins.SexNames()
	}
	return nil
}
