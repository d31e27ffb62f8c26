package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// A shift is how the records sent differ from the training data.
type shift struct {
	name  string
	about string
	draw  func(s *sampler, r *rand.Rand) modelapi.Record
}

// shifts are the named shifts, "none" (training-like) first.
var shifts = []shift{
	{
		name:  "none",
		about: "rows drawn at random from the training data: no drift",
		draw:  func(s *sampler, r *rand.Rand) modelapi.Record { return record(pick(r, s.rows), 0) },
	},
	{
		name:  "gentoo-long-bills",
		about: "9 in 10 records are Gentoo with bills 6 mm longer than measured (a few beyond the training range); drifts species, bill length and the prediction",
		draw: func(s *sampler, r *rand.Rand) modelapi.Record {
			if r.IntN(10) == 0 {
				return record(pick(r, s.rows), 0)
			}
			return record(pick(r, s.gentoo), 6)
		},
	},
	{
		name:  "males-only",
		about: "only males, drawn from the training data: drifts sex, and with it bill length and the prediction (males are larger)",
		draw:  func(s *sampler, r *rand.Rand) modelapi.Record { return record(pick(r, s.males), 0) },
	},
	{
		name:  "out-of-range",
		about: "1 in 5 records has a bill of 60 to 70 mm, beyond the training range (the rest are training-like): out-of-range share 20%, bill length drifts",
		draw: func(s *sampler, r *rand.Rand) modelapi.Record {
			rec := record(pick(r, s.rows), 0)
			if r.IntN(5) == 0 {
				rec.BillLengthMM = round1(60 + 10*r.Float64())
			}
			return rec
		},
	},
}

func shiftNamed(name string) (shift, bool) {
	for _, s := range shifts {
		if s.name == name {
			return s, true
		}
	}
	return shift{}, false
}

// sampler holds the training rows the shifts draw from.
type sampler struct {
	rows   []penguins.Penguin // the complete cases: what the model is trained on
	gentoo []penguins.Penguin
	males  []penguins.Penguin
}

func newSampler() (*sampler, error) {
	all, err := penguins.Embedded{}.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("loading the embedded penguins: %w", err)
	}
	s := &sampler{rows: massmodel.CompleteCases(all)}
	for _, p := range s.rows {
		if p.Species == penguins.Gentoo {
			s.gentoo = append(s.gentoo, p)
		}
		if p.Sex == penguins.Male {
			s.males = append(s.males, p)
		}
	}
	if len(s.gentoo) == 0 || len(s.males) == 0 {
		return nil, fmt.Errorf("the embedded data has %d complete rows, %d of them Gentoo and %d male", len(s.rows), len(s.gentoo), len(s.males))
	}
	return s, nil
}

// batch draws n records of the shift.
func (s *sampler) batch(sh shift, r *rand.Rand, n int) []modelapi.Record {
	recs := make([]modelapi.Record, n)
	for i := range recs {
		recs[i] = sh.draw(s, r)
	}
	return recs
}

func pick(r *rand.Rand, rows []penguins.Penguin) penguins.Penguin { return rows[r.IntN(len(rows))] }

// record is p as a request record, its bill lengthened by delta mm.
func record(p penguins.Penguin, delta float64) modelapi.Record {
	return modelapi.Record{BillLengthMM: round1(p.BillLengthMM.Float64 + delta), Species: p.Species.String(), Sex: p.Sex.String()}
}

// round1 rounds to the data's precision, 0.1 mm.
func round1(x float64) float64 { return math.Round(x*10) / 10 }
