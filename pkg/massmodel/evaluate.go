package massmodel

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/palmerops/penguins/pkg/penguins"
)

// TruthColumn is the column of labelled data that holds the observed body
// mass.
const TruthColumn = "body_mass_g"

// Periods are the period names Evaluate accepts, finest first.
var Periods = []string{"day", "week", "month", "quarter", "year"}

// Metric names, in the order a period's metrics are listed.
const (
	MetricRMSE = "rmse"
	MetricMAE  = "mae"
	MetricRSQ  = "rsq"
	MetricBias = "bias" // mean of observed − predicted
)

// PeriodStart returns the first day of the period that t falls in: the day
// itself, the Monday of its ISO week, the first of its month, of its
// quarter or of its year. The period name must be one of Periods.
func PeriodStart(t time.Time, period string) (time.Time, error) {
	y, m, d := t.UTC().Date()
	switch period {
	case "day":
	case "week":
		wd := (int(t.UTC().Weekday()) + 6) % 7 // Monday 0 … Sunday 6
		d -= wd
	case "month":
		d = 1
	case "quarter":
		m, d = m-(m-1)%3, 1
	case "year":
		m, d = time.January, 1
	default:
		return time.Time{}, fmt.Errorf("unknown period %q: expected one of %s", period, strings.Join(Periods, ", "))
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// PeriodEnd returns the first day after the period that starts at start.
func PeriodEnd(start time.Time, period string) time.Time {
	switch period {
	case "day":
		return start.AddDate(0, 0, 1)
	case "week":
		return start.AddDate(0, 0, 7)
	case "month":
		return start.AddDate(0, 1, 0)
	case "quarter":
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(1, 0, 0)
}

// Scores are the metrics of a set of predictions against observed values.
type Scores struct {
	N    int
	RMSE float64
	MAE  float64
	// RSQ is 1 − SSres/SStot, SStot about the observations' own mean; NaN
	// when the observations do not vary (fewer than two distinct values).
	RSQ  float64
	Bias float64 // mean of observed − predicted
}

// Score computes the Scores of predicted against observed (equal lengths,
// at least one).
func Score(observed, predicted []float64) Scores {
	n := float64(len(observed))
	var mean float64
	for _, o := range observed {
		mean += o
	}
	mean /= n
	var ss, sa, sr, st float64
	for i, o := range observed {
		r := o - predicted[i]
		ss += r * r
		sa += math.Abs(r)
		sr += r
		st += (o - mean) * (o - mean)
	}
	rsq := math.NaN()
	if st > 0 {
		rsq = 1 - ss/st
	}
	return Scores{N: len(observed), RMSE: math.Sqrt(ss / n), MAE: sa / n, RSQ: rsq, Bias: sr / n}
}

// TrainingScores are the Scores of the model on the rows it was fitted to.
func TrainingScores(d *Diagnostics) Scores {
	obs := make([]float64, len(d.Rows))
	fit := make([]float64, len(d.Rows))
	for i, r := range d.Rows {
		obs[i], fit[i] = r.BodyMassG, r.Fitted
	}
	return Score(obs, fit)
}

// PeriodMetric is one metric of one period, in vetiver's long format, as
// pinned in the model store.
type PeriodMetric struct {
	PeriodStart string  `json:"period_start"` // YYYY-MM-DD
	Period      string  `json:"period"`
	N           int     `json:"n"`
	Metric      string  `json:"metric"`
	Estimate    float64 `json:"estimate"`
}

// Evaluation is the result of scoring labelled rows by period.
type Evaluation struct {
	Rows    int            // data rows read
	Scored  int            // rows scored
	Dropped map[string]int // rows left out for a missing value, by reason
	Metrics []PeriodMetric // by period start, then in the order rmse, mae, rsq, bias
}

// EvaluateOptions say how to read labelled rows.
type EvaluateOptions struct {
	DateColumn string // an RFC 3339 date or date-time, or an integer year
	Period     string // one of Periods
	// Served, when set, scores the predictions that were actually served
	// instead of predicting the rows again: each row names its request in
	// a request_id column (and its record in a batch in an optional row
	// column, default 0), and Served returns the prediction and the model
	// version that answered it. Rows with no served prediction, or served
	// by another version than the one evaluated, are left out and counted.
	Served func(requestID string, row int) (prediction float64, version string, ok bool)
}

// Columns of labelled rows joined to served predictions.
const (
	RequestIDColumn = "request_id"
	RowColumn       = "row"
)

// Evaluate reads labelled rows as CSV, predicts each with m (the verified
// model of a) and scores the predictions against the truth column by
// period. Rows with NA in an input or in the truth are left out and counted,
// as in training. Any other bad value is an error naming its row and column.
func Evaluate(r io.Reader, a *Artifact, m *Model, opt EvaluateOptions) (*Evaluation, error) {
	if !slices.Contains(Periods, opt.Period) {
		return nil, fmt.Errorf("unknown period %q: expected one of %s", opt.Period, strings.Join(Periods, ", "))
	}
	if opt.DateColumn == "" {
		return nil, errors.New("no date column named")
	}
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty input, expected a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	idx := make(map[string]int, len(header))
	for i, h := range header {
		idx[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	if err := checkInputSchema(a); err != nil {
		return nil, err
	}
	need := []string{opt.DateColumn, TruthColumn, fBill, fSpecies, fSex}
	needs := fmt.Sprintf("the date column, the truth %q and the model's inputs %s, %s, %s are needed", TruthColumn, fBill, fSpecies, fSex)
	if opt.Served != nil {
		need = []string{opt.DateColumn, TruthColumn, RequestIDColumn}
		needs = fmt.Sprintf("the date column, the truth %q and the %q of the request that was served are needed", TruthColumn, RequestIDColumn)
	}
	var missing []string
	for _, c := range need {
		if _, ok := idx[c]; !ok {
			missing = append(missing, fmt.Sprintf("%q", c))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("header lacks column(s) %s (%s)", strings.Join(missing, ", "), needs)
	}
	_, hasRow := idx[RowColumn]

	type bucket struct{ obs, pred []float64 }
	buckets := map[time.Time]*bucket{}
	ev := &Evaluation{Dropped: map[string]int{}}
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &penguins.ParseError{Row: row, Reason: pe.Err.Error()}
			}
			return nil, fmt.Errorf("row %d: %w", row, err)
		}
		ev.Rows++
		field := func(c string) string { return strings.TrimSpace(rec[idx[c]]) }
		bad := func(c, reason string) error {
			return &penguins.ParseError{Row: row, Column: c, Value: field(c), Reason: reason}
		}
		date, err := parseDate(field(opt.DateColumn), opt.Period)
		if err != nil {
			return nil, bad(opt.DateColumn, err.Error())
		}
		start, _ := PeriodStart(date, opt.Period)

		var miss []string
		truth, ok, err := parseNumber(field(TruthColumn))
		if err != nil {
			return nil, bad(TruthColumn, err.Error())
		}
		if !ok {
			miss = append(miss, TruthColumn)
		}
		var pred float64
		if opt.Served != nil {
			if len(miss) > 0 {
				ev.Dropped[penguins.DropReason(miss)]++
				continue
			}
			row := 0
			if hasRow {
				if row, err = strconv.Atoi(field(RowColumn)); err != nil || row < 0 {
					return nil, bad(RowColumn, "expected the record's index in its request, 0 or more")
				}
			}
			p, version, ok := opt.Served(field(RequestIDColumn), row)
			switch {
			case !ok:
				ev.Dropped["no served prediction for its request_id"]++
				continue
			case version != a.Version:
				ev.Dropped["served by another version"]++
				continue
			}
			pred = p
		} else {
			in, inMiss, err := parseRow(field, bad)
			if err != nil {
				return nil, err
			}
			miss = append(miss, inMiss...)
			if len(miss) > 0 {
				sort.Strings(miss)
				ev.Dropped[penguins.DropReason(miss)]++
				continue
			}
			pred = m.Predict(in)
		}
		b := buckets[start]
		if b == nil {
			b = &bucket{}
			buckets[start] = b
		}
		b.obs = append(b.obs, truth)
		b.pred = append(b.pred, pred)
		ev.Scored++
	}
	if ev.Scored == 0 {
		return nil, fmt.Errorf("no row could be scored (%d read, %v left out)", ev.Rows, ev.Dropped)
	}
	starts := make([]time.Time, 0, len(buckets))
	for s := range buckets {
		starts = append(starts, s)
	}
	slices.SortFunc(starts, time.Time.Compare)
	for _, s := range starts {
		b := buckets[s]
		sc := Score(b.obs, b.pred)
		pm := func(metric string, v float64) {
			if !math.IsNaN(v) { // R² of a period whose truth does not vary is undefined
				ev.Metrics = append(ev.Metrics, PeriodMetric{
					PeriodStart: s.Format(time.DateOnly), Period: opt.Period, N: sc.N, Metric: metric, Estimate: v,
				})
			}
		}
		pm(MetricRMSE, sc.RMSE)
		pm(MetricMAE, sc.MAE)
		pm(MetricRSQ, sc.RSQ)
		pm(MetricBias, sc.Bias)
	}
	return ev, nil
}

// Input column names, as in the artifact's schema.
const (
	fBill    = "bill_length_mm"
	fSpecies = "species"
	fSex     = "sex"
)

// checkInputSchema refuses a model whose inputs are not the ones Evaluate
// reads: rows could not be mapped to it.
func checkInputSchema(a *Artifact) error {
	var names []string
	for _, f := range a.Schema.Inputs {
		names = append(names, f.Name)
	}
	if want := []string{fBill, fSpecies, fSex}; !slices.Equal(names, want) {
		return fmt.Errorf("model %s takes inputs %v; evaluate reads %v", a.Version, names, want)
	}
	return nil
}

// parseRow reads a row's model inputs. A field that is NA is returned in
// missing; any other unreadable value is an error.
func parseRow(field func(string) string, bad func(c, reason string) error) (in Input, missing []string, err error) {
	bill, ok, err := parseNumber(field(fBill))
	if err != nil {
		return in, nil, bad(fBill, err.Error())
	}
	if !ok {
		missing = append(missing, fBill)
	} else if why := CheckBillLength(bill); why != "" {
		return in, nil, bad(fBill, "expected "+why)
	}
	if s := field(fSpecies); s == penguins.NA {
		missing = append(missing, fSpecies)
	} else if in.Species, ok = penguins.ParseSpecies(s); !ok {
		return in, nil, bad(fSpecies, "a level the model does not know: expected one of "+strings.Join(penguins.SpeciesNames(), ", ")+" or NA")
	}
	if s := field(fSex); s == penguins.NA {
		missing = append(missing, fSex)
	} else if in.Sex, ok = penguins.ParseSex(s); !ok {
		return in, nil, bad(fSex, "a level the model does not know: expected female, male or NA")
	}
	in.BillLengthMM = bill
	return in, missing, nil
}

// parseNumber reads a finite number, or NA (ok false).
func parseNumber(s string) (v float64, ok bool, err error) {
	if s == penguins.NA {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, errors.New("expected a finite number or NA")
	}
	return v, true, nil
}

// parseDate reads an RFC 3339 date-time, an RFC 3339 full date or an
// integer year. A bare year says nothing finer than its year, so it needs
// the period year.
func parseDate(s, period string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if y, err := strconv.Atoi(s); err == nil && len(s) == 4 && y >= 1000 {
		if period != "year" {
			return time.Time{}, fmt.Errorf("a bare year gives no %s: use -period year, or full dates", period)
		}
		return time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, errors.New("expected an RFC 3339 date (2007-11-11), date-time (2007-11-11T09:30:00Z) or a year (2007)")
}
