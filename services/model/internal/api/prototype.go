package api

import (
	"fmt"
	"strings"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// prototype returns the JSON Schema (draft 2020-12) of one /predict record,
// in either form, with the training range of each numeric input and an
// example — what vetiver's /prototype tells a client.
func prototype(a *massmodel.Artifact) map[string]any {
	var bill massmodel.Feature
	levels := map[string][]string{}
	for _, f := range a.Schema.Inputs {
		if f.Name == fBill {
			bill = f
		} else {
			levels[f.Name] = f.Levels
		}
	}
	billSchema := map[string]any{
		"type":             "number",
		"exclusiveMinimum": massmodel.MinBillLengthMM,
		"maximum":          massmodel.MaxBillLengthMM,
		"description": fmt.Sprintf("Bill length in millimetres. Trained on %g to %g (mean %.2f); values outside that range are predicted but flagged as extrapolation.",
			*bill.Min, *bill.Max, *bill.Mean),
		"x-training-range": map[string]float64{"min": *bill.Min, "max": *bill.Max, "mean": *bill.Mean},
		"examples":         []float64{45},
	}
	if d := a.Domain; d != nil {
		bySpecies := map[string]any{}
		var ranges []string
		for _, r := range d.BillLength {
			bySpecies[r.Species] = map[string]float64{"min": r.Min, "max": r.Max}
			ranges = append(ranges, fmt.Sprintf("%s %g to %g", r.Species, r.Min, r.Max))
		}
		billSchema["x-training-range-by-species"] = bySpecies
		billSchema["description"] = fmt.Sprintf("Bill length in millimetres. Trained on %g to %g (mean %.2f): %s. "+
			"Values outside the record's species' range, or whose leverage exceeds the largest in the training data (%.2g), "+
			"are predicted but flagged as extrapolation.", *bill.Min, *bill.Max, *bill.Mean, strings.Join(ranges, ", "), d.MaxLeverage)
	}
	indicator := func(desc string) map[string]any {
		return map[string]any{"description": desc, "oneOf": []any{
			map[string]any{"type": "boolean"}, map[string]any{"enum": []int{0, 1}},
		}}
	}
	raw := map[string]any{
		"title": "raw form",
		"type":  "object",
		"properties": map[string]any{
			fBill:    billSchema,
			fSpecies: map[string]any{"enum": levels[fSpecies], "description": "Species."},
			fSex:     map[string]any{"enum": levels[fSex], "description": "Sex."},
		},
		"required":             rawFields,
		"additionalProperties": false,
	}
	oneHot := map[string]any{
		"title": "one-hot form (pandas.get_dummies with drop_first; Adelie and female are the baselines)",
		"type":  "object",
		"properties": map[string]any{
			fBill:      billSchema,
			fChinstrap: indicator("True for a Chinstrap penguin."),
			fGentoo:    indicator("True for a Gentoo penguin (at most one species indicator may be true)."),
			fMale:      indicator("True for a male penguin."),
		},
		"required":             oneHotFields,
		"additionalProperties": false,
		// A penguin has one species: the two indicators cannot both be set.
		"not": map[string]any{
			"properties": map[string]any{
				fChinstrap: map[string]any{"enum": []any{true, 1}},
				fGentoo:    map[string]any{"enum": []any{true, 1}},
			},
			"required": []string{fChinstrap, fGentoo},
		},
	}
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       a.Name + " input record",
		"description": fmt.Sprintf("One record for POST /predict (send one, or an array of up to the configured limit). Model version %s: %s.", a.Version, a.Formula),
		"oneOf":       []any{raw, oneHot},
		"examples": []any{
			map[string]any{fBill: 45, fSpecies: "Gentoo", fSex: "male"},
			map[string]any{fBill: 45.0, fChinstrap: false, fGentoo: false, fMale: true},
		},
	}
}
