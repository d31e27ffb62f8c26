// Package modelapi holds the model API's wire types, shared by the model
// service that encodes them and the clients (frontend, tests) that decode
// them, and the typed client.
package modelapi

import (
	"strings"
	"time"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
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
	Warnings      []Warning            `json:"warnings,omitempty"`
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
	Message string `json:"message"`
}

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

// Metadata is the body of GET /metadata: the served artifact and how it is
// being served.
type Metadata struct {
	massmodel.Artifact
	Serving Serving `json:"serving"`
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
