package massmodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/penguins"
)

// ArtifactFile is the name of the artifact inside a version directory.
const ArtifactFile = "model.json"

// Artifact is a trained model as stored and served: plain JSON, content
// addressed, and self-checking through its golden examples.
type Artifact struct {
	Name          string        `json:"name"`
	Version       string        `json:"version"`        // UTC timestamp + "-" + ContentSHA256[:12]
	ContentSHA256 string        `json:"content_sha256"` // sha256 of the artifact with Version and ContentSHA256 empty
	Created       time.Time     `json:"created"`
	Formula       string        `json:"formula"`
	Data          DataInfo      `json:"data"`
	Schema        Schema        `json:"schema"`
	Coefficients  []Coefficient `json:"coefficients"`
	Covariance    [][]float64   `json:"covariance"`
	Metrics       Metrics       `json:"metrics"`
	Build         BuildInfo     `json:"build"`
	Golden        []Golden      `json:"golden"`
	// Observations are the rows the model was fitted to, so that the
	// service can report fitted values and residuals whatever the data
	// source. Artifacts written before they were stored have none: the
	// field is then omitted, which keeps their content hash unchanged.
	Observations []Observation `json:"observations,omitempty"`
	// Profile is the reference for drift: how the training rows spread over
	// bins of each input and of the prediction. Omitted (and the content
	// hash unchanged) in artifacts written before it was stored.
	Profile *Profile `json:"profile,omitempty"`
	// Domain is where the model has seen data (per-species ranges and the
	// largest training leverage), for the joint-space extrapolation check.
	// Omitted (and the content hash unchanged) in artifacts written before
	// it was stored; they fall back to the pooled range.
	Domain *Domain `json:"domain,omitempty"`
}

// DataInfo identifies the training data.
type DataInfo struct {
	Source       string         `json:"source"`
	SHA256       string         `json:"sha256"` // penguins.Digest of all rows read
	Rows         int            `json:"rows"`
	TrainingRows int            `json:"training_rows"`
	Dropped      map[string]int `json:"dropped"` // rows left out, by reason
}

// Schema describes the model's inputs and target.
type Schema struct {
	Target  Feature   `json:"target"`
	Inputs  []Feature `json:"inputs"`
	Version int       `json:"version"`
}

// Feature describes one column. Numeric features carry their training range.
type Feature struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // "number" or "category"
	Unit     string   `json:"unit,omitempty"`
	Levels   []string `json:"levels,omitempty"`
	Baseline string   `json:"baseline,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Mean     *float64 `json:"mean,omitempty"`
}

// Coefficient is one row of the coefficient table.
type Coefficient struct {
	Term     string  `json:"term"`
	Estimate float64 `json:"estimate"`
	StdError float64 `json:"std_error"`
	TValue   float64 `json:"t_value"`
	PValue   float64 `json:"p_value"`
}

// Metrics are the fit statistics.
type Metrics struct {
	R2     float64 `json:"r_squared"`
	AdjR2  float64 `json:"adj_r_squared"`
	Sigma  float64 `json:"sigma"`
	RMSE   float64 `json:"rmse"`
	N      int     `json:"n"`
	DF     int     `json:"df_residual"`
	TCrit  float64 `json:"t_critical_95"`
	Level  float64 `json:"interval_level"`
	Method string  `json:"method"`
}

// BuildInfo records what trained the artifact.
type BuildInfo struct {
	Trainer   string            `json:"trainer"`
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	GoVersion string            `json:"go_version"`
	Libraries map[string]string `json:"libraries,omitempty"`
}

// GoldenInput is an input in the raw form of the API.
type GoldenInput struct {
	BillLengthMM float64 `json:"bill_length_mm"`
	Species      string  `json:"species"`
	Sex          string  `json:"sex"`
}

// Golden is an input and the output the artifact must reproduce.
type Golden struct {
	Input  GoldenInput `json:"input"`
	Output float64     `json:"body_mass_g"`
}

// Observation is one row the model was fitted to: its inputs in the raw
// form of the API and the observed target.
type Observation struct {
	BillLengthMM float64 `json:"bill_length_mm"`
	Species      string  `json:"species"`
	Sex          string  `json:"sex"`
	BodyMassG    float64 `json:"body_mass_g"`
}

// goldenTolerance is the relative difference allowed when reproducing a
// golden example: far above rounding error, far below any real change.
const goldenTolerance = 1e-9

// NewArtifact builds the artifact for a fit of rows read from source.
func NewArtifact(source string, rows []penguins.Penguin, f *Fit, created time.Time) (*Artifact, error) {
	lo, hi, mean := f.BillLengthMin, f.BillLengthMax, f.BillLengthMean
	a := &Artifact{
		Name:    Name,
		Created: created.UTC().Truncate(time.Millisecond),
		Formula: Formula,
		Data: DataInfo{
			Source:       source,
			SHA256:       penguins.Digest(rows),
			Rows:         len(rows),
			TrainingRows: f.N,
			Dropped:      penguins.Dropped(rows),
		},
		Schema: Schema{
			Version: 1,
			Target:  Feature{Name: "body_mass_g", Type: "number", Unit: "g"},
			Inputs: []Feature{
				{Name: "bill_length_mm", Type: "number", Unit: "mm", Min: &lo, Max: &hi, Mean: &mean},
				{Name: "species", Type: "category", Levels: penguins.SpeciesNames(), Baseline: "Adelie"},
				{Name: "sex", Type: "category", Levels: penguins.SexNames(), Baseline: "female"},
			},
		},
		Metrics: Metrics{
			R2: f.R2, AdjR2: f.AdjR2, Sigma: f.Sigma, RMSE: f.RMSE, N: f.N, DF: f.DF,
			TCrit: tCritical(f.DF), Level: 0.95, Method: "ordinary least squares (QR), github.com/sajari/regression",
		},
		Build: trainerBuild(),
	}
	for i, t := range Terms {
		a.Coefficients = append(a.Coefficients, Coefficient{
			Term: t, Estimate: f.Coefficients[i], StdError: f.StdErrors[i], TValue: f.TValues[i], PValue: f.PValues[i],
		})
		a.Covariance = append(a.Covariance, append([]float64(nil), f.Covariance[i][:]...))
	}
	a.Observations = observations(CompleteCases(rows))
	if len(a.Observations) != f.N {
		return nil, fmt.Errorf("fit has %d rows, the data %d complete cases", f.N, len(a.Observations))
	}
	m, err := a.model()
	if err != nil {
		return nil, err
	}
	for _, s := range penguins.AllSpecies {
		for _, sex := range penguins.AllSexes {
			in := Input{BillLengthMM: 45, Species: s, Sex: sex}
			a.Golden = append(a.Golden, Golden{
				Input:  GoldenInput{BillLengthMM: in.BillLengthMM, Species: s.String(), Sex: sex.String()},
				Output: m.Predict(in),
			})
		}
	}
	if a.Profile, err = NewProfile(a.Observations, m); err != nil {
		return nil, err
	}
	if a.Domain, err = NewDomain(a.Observations, m); err != nil {
		return nil, err
	}
	a.ContentSHA256 = a.digest()
	a.Version = a.Created.Format("20060102T150405Z") + "-" + a.ContentSHA256[:12]
	return a, nil
}

func trainerBuild() BuildInfo {
	bi := buildinfo.Read()
	b := BuildInfo{Trainer: bi.Module, Version: bi.Version, Commit: bi.Commit, GoVersion: bi.GoVersion}
	for _, lib := range []string{"github.com/sajari/regression", "gonum.org/v1/gonum"} {
		if v, ok := bi.Deps[lib]; ok {
			if b.Libraries == nil {
				b.Libraries = map[string]string{}
			}
			b.Libraries[lib] = v
		}
	}
	return b
}

// digest is the sha256 of the artifact's canonical JSON with Version and
// ContentSHA256 left empty. Go's encoder is deterministic (struct field
// order, sorted map keys, shortest round-trip floats), so decoding and
// re-encoding a stored artifact reproduces the bytes that were hashed.
func (a Artifact) digest() string {
	a.Version, a.ContentSHA256 = "", ""
	b, err := json.Marshal(a)
	if err != nil {
		// Only non-finite floats can fail, and verify rejects those first.
		panic(fmt.Sprintf("massmodel: encoding artifact: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Encode writes a as indented JSON.
func (a *Artifact) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(a)
}

// DecodeArtifact reads an artifact strictly: unknown fields and trailing
// data are errors. It does not verify; call Verify.
func DecodeArtifact(r io.Reader) (*Artifact, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var a Artifact
	if err := dec.Decode(&a); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("artifact is empty or truncated")
		}
		return nil, fmt.Errorf("artifact is not valid JSON of the expected shape: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("artifact has trailing data after the JSON object")
	}
	return &a, nil
}

// Verify checks that a is intact and consistent and returns the model it
// describes: the content hash matches, the version names that hash, every
// number is finite, and the golden examples are reproduced.
func (a *Artifact) Verify() (*Model, error) {
	if a.Name != Name {
		return nil, fmt.Errorf("artifact is for model %q, want %q", a.Name, Name)
	}
	if err := a.checkShape(); err != nil {
		return nil, err
	}
	if got := a.digest(); got != a.ContentSHA256 {
		return nil, fmt.Errorf("artifact content hash mismatch: recorded %.12s…, computed %.12s… (modified or corrupt)", a.ContentSHA256, got)
	}
	if !strings.HasSuffix(a.Version, "-"+a.ContentSHA256[:12]) {
		return nil, fmt.Errorf("artifact version %q does not name its content hash %.12s", a.Version, a.ContentSHA256)
	}
	m, err := a.model()
	if err != nil {
		return nil, err
	}
	if len(a.Golden) == 0 {
		return nil, errors.New("artifact has no golden example")
	}
	for i, g := range a.Golden {
		in, err := g.Input.parse()
		if err != nil {
			return nil, fmt.Errorf("artifact golden example %d: %w", i, err)
		}
		got := m.Predict(in)
		if math.Abs(got-g.Output) > goldenTolerance*math.Max(1, math.Abs(g.Output)) {
			return nil, fmt.Errorf("artifact golden example %d not reproduced: predicted %g, recorded %g", i, got, g.Output)
		}
	}
	if a.Observations != nil {
		// The stored rows must be the ones the model was fitted to: as many
		// as the fit used, and with the same residual error.
		if _, err := residuals(a, m, a.Observations); err != nil {
			return nil, fmt.Errorf("artifact observations: %w", err)
		}
	}
	if a.Profile != nil {
		if err := a.Profile.check(); err != nil {
			return nil, fmt.Errorf("artifact %w", err)
		}
		// The profile must be the training rows' own.
		if a.Observations != nil {
			want, err := NewProfile(a.Observations, m)
			if err != nil {
				return nil, fmt.Errorf("artifact profile: %w", err)
			}
			if !want.equal(a.Profile) {
				return nil, errors.New("artifact profile does not match its training rows")
			}
		}
	}
	if a.Domain != nil && a.Observations != nil {
		// The domain must be the training rows' own.
		want, err := NewDomain(a.Observations, m)
		if err != nil {
			return nil, fmt.Errorf("artifact domain: %w", err)
		}
		if !want.equal(a.Domain) {
			return nil, errors.New("artifact domain does not match its training rows")
		}
	}
	return m, nil
}

func (g GoldenInput) parse() (Input, error) {
	return parseInput(g.BillLengthMM, g.Species, g.Sex)
}

func parseInput(bill float64, species, sex string) (Input, error) {
	sp, ok := penguins.ParseSpecies(species)
	if !ok {
		return Input{}, fmt.Errorf("unknown species %q", species)
	}
	sx, ok := penguins.ParseSex(sex)
	if !ok {
		return Input{}, fmt.Errorf("unknown sex %q", sex)
	}
	if why := CheckBillLength(bill); why != "" {
		return Input{}, fmt.Errorf("bill_length_mm: expected %s", why)
	}
	return Input{BillLengthMM: bill, Species: sp, Sex: sx}, nil
}

func (a *Artifact) checkShape() error {
	if len(a.ContentSHA256) != 64 {
		return errors.New("artifact has no valid content_sha256")
	}
	if len(a.Coefficients) != P {
		return fmt.Errorf("artifact has %d coefficients, want %d", len(a.Coefficients), P)
	}
	for i, c := range a.Coefficients {
		if c.Term != Terms[i] {
			return fmt.Errorf("artifact coefficient %d is %q, want %q", i, c.Term, Terms[i])
		}
		if !finite(c.Estimate, c.StdError, c.TValue, c.PValue) {
			return fmt.Errorf("artifact coefficient %q is not finite", c.Term)
		}
	}
	if len(a.Covariance) != P {
		return fmt.Errorf("artifact covariance has %d rows, want %d", len(a.Covariance), P)
	}
	for i, row := range a.Covariance {
		if len(row) != P || !finite(row...) {
			return fmt.Errorf("artifact covariance row %d is malformed", i)
		}
	}
	if a.Metrics.DF <= 0 || !finite(a.Metrics.Sigma, a.Metrics.TCrit) || a.Metrics.Sigma <= 0 {
		return errors.New("artifact metrics are malformed")
	}
	lo, hi, err := a.billRange()
	if err != nil {
		return err
	}
	if a.Domain != nil {
		if err := a.Domain.check(lo, hi); err != nil {
			return fmt.Errorf("artifact %w", err)
		}
	}
	return nil
}

func (a *Artifact) billRange() (lo, hi float64, err error) {
	for _, f := range a.Schema.Inputs {
		if f.Name == "bill_length_mm" && f.Min != nil && f.Max != nil && finite(*f.Min, *f.Max) && *f.Min <= *f.Max {
			return *f.Min, *f.Max, nil
		}
	}
	return 0, 0, errors.New("artifact schema lacks the training range of bill_length_mm")
}

// model builds the Model that a describes; checkShape must have passed.
func (a *Artifact) model() (*Model, error) {
	m := &Model{sigma2: a.Metrics.Sigma * a.Metrics.Sigma, tcrit: a.Metrics.TCrit}
	m.covScale = 1 / m.sigma2
	if m.tcrit == 0 {
		m.tcrit = tCritical(a.Metrics.DF)
	}
	for i := range m.coef {
		m.coef[i] = a.Coefficients[i].Estimate
		copy(m.cov[i][:], a.Covariance[i])
	}
	m.setLeverage()
	var err error
	m.billLo, m.billHi, err = a.billRange()
	if a.Domain != nil {
		m.setDomain(a.Domain)
	}
	m.setMessageText()
	return m, err
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Marshal returns the artifact's indented JSON.
func (a *Artifact) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	err := a.Encode(&buf)
	return buf.Bytes(), err
}
