// Package modelapi holds the model API's wire types, shared by the model
// service that encodes them and the clients (frontend, tests) that decode
// them, and the typed client.
package modelapi

import (
	"strings"
	"time"

	"github.com/palmerops/penguins/pkg/buildinfo"
)

// Record is one input in the raw form.
type Record struct {
	BillLengthMM float64 `json:"bill_length_mm"`
	Species      string  `json:"species"`
	Sex          string  `json:"sex"`
}

// OneHotRecord is one input in the one-hot form the book's Python client
// sends (pandas.get_dummies with drop_first).
type OneHotRecord struct {
	BillLengthMM     float64 `json:"bill_length_mm"`
	SpeciesChinstrap bool    `json:"species_Chinstrap"`
	SpeciesGentoo    bool    `json:"species_Gentoo"`
	SexMale          bool    `json:"sex_male"`
}

// PredictResponse is the body of a successful POST /predict.
type PredictResponse struct {
	Predict       []float64            `json:"predict"`
	Model         string               `json:"model"`
	Version       string               `json:"version"`
	Interval      *Interval            `json:"interval,omitempty"`
	Contributions []map[string]float64 `json:"contributions,omitempty"`
	// ExtrapolatedRows are the indexes of every record judged an
	// extrapolation, in request order; Warnings explain at most 100.
	ExtrapolatedRows []int     `json:"extrapolated_rows,omitempty"`
	Warnings         []Warning `json:"warnings,omitempty"`
	// WarningsTruncated is true when more records were flagged than listed.
	WarningsTruncated bool `json:"warnings_truncated,omitempty"`
}

// Interval holds prediction intervals, one bound per record.
type Interval struct {
	Level float64   `json:"level"`
	Lower []float64 `json:"lower"`
	Upper []float64 `json:"upper"`
}

// Warning flags a record that was predicted but deserves caution.
type Warning struct {
	Row     int    `json:"row"`
	Pointer string `json:"pointer"`
	// Reasons say why the record is an extrapolation: ReasonTrainingRange,
	// ReasonSpeciesRange, ReasonLeverage.
	Reasons []string `json:"reasons"`
	Message string   `json:"message"`
}

// Extrapolation reasons, in warnings, /metadata and the metrics.
const (
	ReasonTrainingRange = "training_range" // bill length outside the pooled training range
	ReasonSpeciesRange  = "species_range"  // bill length outside its species' training range
	ReasonLeverage      = "leverage"       // leverage above the largest of any training row
)

// Problem is an RFC 9457 problem detail (application/problem+json).
type Problem struct {
	Type            string       `json:"type"`
	Title           string       `json:"title"`
	Status          int          `json:"status"`
	Detail          string       `json:"detail,omitempty"`
	Instance        string       `json:"instance,omitempty"`
	RequestID       string       `json:"request_id,omitempty"`
	Errors          []FieldError `json:"errors,omitempty"`
	ErrorsTruncated bool         `json:"errors_truncated,omitempty"`
}

// FieldError names one bad value by JSON pointer and says what was expected.
type FieldError struct {
	Pointer  string   `json:"pointer"`
	Detail   string   `json:"detail"`
	Expected string   `json:"expected,omitempty"`
	Allowed  []string `json:"allowed,omitempty"`
}

// String renders the error on one line: `/0/species: unknown species
// "Emperor", expected … (Adelie, Chinstrap, Gentoo)`.
func (fe FieldError) String() string {
	s := fe.Pointer
	if s == "" {
		s = "(body)" // the pointer to the whole document
	}
	s += ": " + fe.Detail
	if fe.Expected != "" {
		s += ", expected " + fe.Expected
	}
	if len(fe.Allowed) > 0 {
		s += " (" + strings.Join(fe.Allowed, ", ") + ")"
	}
	return s
}

// Metadata is the body of GET /metadata: the served model version, as its
// artifact records it, and how it is being served. It is the API's own type:
// the model service maps its stored artifact onto it, so the storage format
// can change without changing the API.
type Metadata struct {
	Name          string        `json:"name"`
	Version       string        `json:"version"`
	ContentSHA256 string        `json:"content_sha256"` // of the stored artifact
	Created       time.Time     `json:"created"`
	Formula       string        `json:"formula"`
	Data          DataInfo      `json:"data"`
	Schema        FeatureSchema `json:"schema"`
	Coefficients  []Coefficient `json:"coefficients"`
	Covariance    [][]float64   `json:"covariance"`
	Metrics       Metrics       `json:"metrics"`
	Build         TrainerBuild  `json:"build"`
	Golden        []Golden      `json:"golden"`
	// Profile is the training rows' reference profile for drift; absent for
	// artifacts written before profiles were stored.
	Profile *Profile `json:"profile,omitempty"`
	// Domain is where the model has seen data, for the joint-space
	// extrapolation check; absent for artifacts written before it was
	// stored.
	Domain *Domain `json:"domain,omitempty"`
	// Extrapolation says how the service judges extrapolation for this
	// version: jointly, or by the pooled range alone (and why).
	Extrapolation ExtrapolationCheck `json:"extrapolation"`
	Serving       Serving            `json:"serving"`
}

// Domain is where the model has seen data: bill length's range within each
// species, and the largest leverage of a training row.
type Domain struct {
	MaxLeverage float64        `json:"max_leverage"`
	BillLength  []SpeciesRange `json:"bill_length_mm_by_species"`
}

// SpeciesRange is the training range of a number within one species.
type SpeciesRange struct {
	Species string  `json:"species"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// ExtrapolationCheck describes how records are judged extrapolations.
type ExtrapolationCheck struct {
	Check   string   `json:"check"`   // ExtrapolationJoint or ExtrapolationPooled
	Reasons []string `json:"reasons"` // the reasons a warning can give
	Detail  string   `json:"detail"`
}

// Extrapolation checks.
const (
	// ExtrapolationJoint: the pooled range, the species' range and the
	// leverage.
	ExtrapolationJoint = "joint"
	// ExtrapolationPooled: the pooled range of bill length alone, for an
	// artifact without a domain.
	ExtrapolationPooled = "pooled"
)

// Profile is how the training rows spread over bins of each input and of
// the prediction: the reference /monitoring/drift compares live traffic with.
type Profile struct {
	BillLength NumericProfile     `json:"bill_length_mm"`
	Species    CategoricalProfile `json:"species"`
	Sex        CategoricalProfile `json:"sex"`
	Prediction NumericProfile     `json:"prediction"`
}

// NumericProfile bins a number at Edges: bin 0 is below Edges[0], bin i is
// [Edges[i-1], Edges[i]), the last from the last edge up.
type NumericProfile struct {
	Edges  []float64 `json:"edges"`
	Shares []float64 `json:"shares"`
}

// CategoricalProfile gives the share of each level.
type CategoricalProfile struct {
	Levels []string  `json:"levels"`
	Shares []float64 `json:"shares"`
}

// DataInfo identifies the training data.
type DataInfo struct {
	Source       string         `json:"source"`
	SHA256       string         `json:"sha256"` // digest of all rows read
	Rows         int            `json:"rows"`
	TrainingRows int            `json:"training_rows"`
	Dropped      map[string]int `json:"dropped"` // rows left out, by reason
}

// FeatureSchema describes the model's inputs and target.
type FeatureSchema struct {
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

// TrainerBuild records what trained the model.
type TrainerBuild struct {
	Trainer   string            `json:"trainer"`
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	GoVersion string            `json:"go_version"`
	Libraries map[string]string `json:"libraries,omitempty"`
}

// Golden is an input and the prediction the model reproduced before it
// was served.
type Golden struct {
	Input     Record  `json:"input"`
	BodyMassG float64 `json:"body_mass_g"`
}

// Diagnostics is the body of GET /diagnostics: the fitted value and
// residual of every row the served model was fitted to, in training order.
// When the service cannot know those rows, Available is false, Reason says
// why and Rows is empty.
type Diagnostics struct {
	Model     string `json:"model"`
	Version   string `json:"version"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Source is "artifact" when the rows are stored in the model artifact,
	// "data" when they were recomputed from data the service has whose
	// digest is the artifact's training-data digest (DataSource names it).
	Source     string          `json:"source,omitempty"`
	DataSource string          `json:"data_source,omitempty"`
	Rows       []DiagnosticRow `json:"rows"`
}

// Diagnostics sources.
const (
	DiagnosticsFromArtifact = "artifact"
	DiagnosticsFromData     = "data"
)

// DiagnosticRow is one training row: its inputs, observed body mass, and the
// model's fitted value and residual (observed minus fitted).
type DiagnosticRow struct {
	BillLengthMM float64 `json:"bill_length_mm"`
	Species      string  `json:"species"`
	Sex          string  `json:"sex"`
	BodyMassG    float64 `json:"body_mass_g"`
	Fitted       float64 `json:"fitted"`
	Residual     float64 `json:"residual"`
}

// Serving describes how the model service is serving its model.
type Serving struct {
	LoadedFrom   string         `json:"loaded_from"`
	LoadedAt     time.Time      `json:"loaded_at"`
	Pinned       bool           `json:"pinned"`
	MaxRows      int            `json:"max_rows"`
	MaxBodyBytes int64          `json:"max_body_bytes"`
	Service      buildinfo.Info `json:"service"`
}

// OIP (Open Inference Protocol v2) types.

// OIPTensor is a named tensor in an inference request or response.
type OIPTensor struct {
	Name       string         `json:"name"`
	Shape      []int          `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data"`
}

// OIPRequestOutput names an output a client wants.
type OIPRequestOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

// OIPInferRequest is the body of POST /v2/models/{name}/infer.
type OIPInferRequest struct {
	ID         string             `json:"id,omitempty"`
	Parameters map[string]any     `json:"parameters,omitempty"`
	Inputs     []OIPTensor        `json:"inputs"`
	Outputs    []OIPRequestOutput `json:"outputs,omitempty"`
}

// OIPInferResponse is the body of a successful inference.
type OIPInferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []OIPTensor    `json:"outputs"`
}

// OIPTensorMeta describes a tensor in model metadata.
type OIPTensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// OIPModelMetadata is the body of GET /v2/models/{name}.
type OIPModelMetadata struct {
	Name     string          `json:"name"`
	Versions []string        `json:"versions"`
	Platform string          `json:"platform"`
	Inputs   []OIPTensorMeta `json:"inputs"`
	Outputs  []OIPTensorMeta `json:"outputs"`
}

// OIPServerMetadata is the body of GET /v2.
type OIPServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// OIPError is the error body of every /v2 endpoint.
type OIPError struct {
	Error string `json:"error"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason,omitempty"`
}
