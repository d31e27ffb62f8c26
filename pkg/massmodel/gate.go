package massmodel

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrRefused is wrapped by Promote when the gate refuses a version.
var ErrRefused = errors.New("promotion refused")

// DefaultMaxRegression is the RMSE increase the gate allows by default.
const DefaultMaxRegression = 0.05

// gate checks a candidate for Champion against the current champion, cur.
// The candidate has already been verified. It refuses a candidate whose
// inputs differ from the champion's, and one whose RMSE is worse by more
// than opt.MaxRegression on any period both have pinned; opt.Force
// overrides the second check only, and forced reports that it did.
func (s Store) gate(name, cur string, cand *Artifact, opt PromoteOptions) (forced bool, err error) {
	champ, _, err := s.Load(name, cur)
	if err != nil {
		// The champion itself no longer verifies: nothing to compare with,
		// and refusing would block the way out. Say so rather than guess.
		return false, fmt.Errorf("%w: the current champion %s fails verification, so %s cannot be compared with it: %w", ErrRefused, cur, cand.Version, err)
	}
	if diff := schemaDiff(champ.Schema, cand.Schema); diff != "" {
		return false, fmt.Errorf("%w: %s's input schema differs from the champion %s's: %s", ErrRefused, cand.Version, cur, diff)
	}
	cm, err := s.Metrics(name, cur)
	if err != nil {
		return false, err
	}
	nm, err := s.Metrics(name, cand.Version)
	if err != nil {
		return false, err
	}
	var worse []string
	for _, c := range cm {
		if c.Metric != "rmse" {
			continue
		}
		i := slices.IndexFunc(nm, func(n PeriodMetric) bool {
			return n.Metric == "rmse" && n.Period == c.Period && n.PeriodStart == c.PeriodStart
		})
		if i < 0 {
			continue
		}
		n := nm[i]
		if n.Estimate > c.Estimate*(1+opt.MaxRegression) {
			worse = append(worse, fmt.Sprintf("%s %s: RMSE %.4f against the champion's %.4f (%+.1f%%)",
				c.Period, c.PeriodStart, n.Estimate, c.Estimate, 100*(n.Estimate/c.Estimate-1)))
		}
	}
	if len(worse) == 0 {
		return false, nil
	}
	if opt.Force {
		return true, nil
	}
	return false, fmt.Errorf("%w: %s is worse than the champion %s by more than %.1f%% on %s; -force overrides this check",
		ErrRefused, cand.Version, cur, 100*opt.MaxRegression, strings.Join(worse, "; "))
}

// schemaDiff describes how two schemas' inputs and target differ, in what a
// caller sends and gets: names, types, units and category levels. Training
// ranges and the baseline level are properties of the fit, not of the
// interface, and may differ. Empty means no difference.
func schemaDiff(a, b Schema) string {
	var d []string
	if a.Version != b.Version {
		d = append(d, fmt.Sprintf("schema version %d, not %d", b.Version, a.Version))
	}
	if x := featureDiff(a.Target, b.Target); x != "" {
		d = append(d, "target "+x)
	}
	names := func(fs []Feature) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	if an, bn := names(a.Inputs), names(b.Inputs); !slices.Equal(an, bn) {
		d = append(d, fmt.Sprintf("inputs [%s], not [%s]", strings.Join(bn, ", "), strings.Join(an, ", ")))
	} else {
		for i := range a.Inputs {
			if x := featureDiff(a.Inputs[i], b.Inputs[i]); x != "" {
				d = append(d, "input "+x)
			}
		}
	}
	return strings.Join(d, "; ")
}

func featureDiff(a, b Feature) string {
	var d []string
	if a.Name != b.Name {
		d = append(d, fmt.Sprintf("named %q, not %q", b.Name, a.Name))
	}
	if a.Type != b.Type {
		d = append(d, fmt.Sprintf("of type %s, not %s", b.Type, a.Type))
	}
	if a.Unit != b.Unit {
		d = append(d, fmt.Sprintf("in unit %q, not %q", b.Unit, a.Unit))
	}
	if !slices.Equal(a.Levels, b.Levels) {
		d = append(d, fmt.Sprintf("levels [%s], not [%s]", strings.Join(b.Levels, ", "), strings.Join(a.Levels, ", ")))
	}
	if len(d) == 0 {
		return ""
	}
	return b.Name + " " + strings.Join(d, ", ")
}
