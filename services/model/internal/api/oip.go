package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/valyala/fastjson"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
)

// Output tensor names of the Open Inference Protocol endpoint.
const (
	outMass  = "body_mass_g"
	outLower = "body_mass_g_lower_95"
	outUpper = "body_mass_g_upper_95"
)

var numericDatatypes = map[string]bool{
	"FP64": true, "FP32": true, "FP16": true,
	"INT8": true, "INT16": true, "INT32": true, "INT64": true,
	"UINT8": true, "UINT16": true, "UINT32": true, "UINT64": true,
}

func oipModelMetadata(a *massmodel.Artifact) modelapi.OIPModelMetadata {
	vec := func(name, dt string) modelapi.OIPTensorMeta {
		return modelapi.OIPTensorMeta{Name: name, Datatype: dt, Shape: []int{-1}}
	}
	return modelapi.OIPModelMetadata{
		Name: a.Name, Versions: []string{a.Version}, Platform: "go-ols",
		Inputs:  []modelapi.OIPTensorMeta{vec(fBill, "FP64"), vec(fSpecies, "BYTES"), vec(fSex, "BYTES")},
		Outputs: []modelapi.OIPTensorMeta{vec(outMass, "FP64"), vec(outLower, "FP64"), vec(outUpper, "FP64")},
	}
}

func (s *Server) oipServer(c echo.Context) error {
	return c.JSON(http.StatusOK, modelapi.OIPServerMetadata{Name: "penguin-model-service", Version: s.build.Version, Extensions: []string{}})
}

func (s *Server) oipReady(c echo.Context) error {
	if s.ready() == nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]bool{"ready": false})
	}
	return c.JSON(http.StatusOK, map[string]bool{"ready": true})
}

// lookup resolves the {name} and optional {version} path parameters to the
// served model.
func (s *Server) lookup(c echo.Context) (*served, error) {
	sv := s.ready()
	if sv == nil {
		return nil, errNotReady
	}
	if name := c.Param("name"); name != sv.artifact.Name {
		return nil, newProblem(http.StatusNotFound, "not-found", "Unknown model",
			fmt.Sprintf("unknown model %s; this server serves %q", quote(name), sv.artifact.Name))
	}
	if v := c.Param("version"); hasParam(c, "version") && v != sv.artifact.Version {
		return nil, newProblem(http.StatusNotFound, "not-found", "Unknown model version",
			fmt.Sprintf("model %s version %s is not served; the served version is %s", sv.artifact.Name, quote(v), sv.artifact.Version))
	}
	return sv, nil
}

func hasParam(c echo.Context, name string) bool {
	for _, n := range c.ParamNames() {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Server) oipModel(c echo.Context) error {
	sv, err := s.lookup(c)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, sv.oipModel)
}

func (s *Server) oipModelReady(c echo.Context) error {
	sv, err := s.lookup(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": sv.artifact.Name, "ready": true})
}

// oipTensorIn is a request tensor with its data left raw for checking.
type oipTensorIn struct {
	Name       string          `json:"name"`
	Shape      []int           `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type oipInferIn struct {
	ID         string                      `json:"id,omitempty"`
	Parameters map[string]any              `json:"parameters,omitempty"`
	Inputs     []oipTensorIn               `json:"inputs"`
	Outputs    []modelapi.OIPRequestOutput `json:"outputs,omitempty"`
}

func badShape(format string, args ...any) error {
	return newProblem(http.StatusBadRequest, "bad-request", "Bad inference request", fmt.Sprintf(format, args...))
}

func (s *Server) oipInfer(c echo.Context) error {
	sv, err := s.lookup(c)
	if err != nil {
		return err
	}
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	defer s.putBuffer(body)
	if err := strictJSON(body.Bytes()); err != nil {
		return err
	}
	var req oipInferIn
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "malformed inference request: "+jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "malformed inference request: data after the JSON object")
	}
	inputs, err := s.oipInputs(req.Inputs)
	if err != nil {
		return err
	}
	outputs := []string{outMass}
	if len(req.Outputs) > 0 {
		outputs = outputs[:0]
		for _, o := range req.Outputs {
			switch o.Name {
			case outMass, outLower, outUpper:
				if slices.Contains(outputs, o.Name) {
					return badShape("output %q requested twice", o.Name)
				}
				outputs = append(outputs, o.Name)
			default:
				return badShape("unknown output %s; outputs: %s, %s, %s", quote(o.Name), outMass, outLower, outUpper)
			}
		}
	}

	id := service.RequestID(c)
	pl := new(predictionLog)
	s.logRequested(pl, id, "infer", len(inputs))
	var sc scores // the response keeps its slices: no reuse here
	s.score(id, "infer", sv, inputs, true, &sc)
	resp := modelapi.OIPInferResponse{ModelName: sv.artifact.Name, ModelVersion: sv.artifact.Version, ID: req.ID}
	if sc.extrapolated > 0 {
		by := map[string]int{}
		for i, n := range sc.byReason {
			if n > 0 {
				by[reasonBits[i].String()] = n
			}
		}
		bill := billTensor(req.Inputs)
		warnings, truncated := appendWarnings(nil, sv.model, inputs, &sc, func(b []byte, row int) []byte {
			b = append(b, "/inputs/"...)
			b = strconv.AppendInt(b, int64(bill), 10)
			b = append(b, "/data/"...)
			return strconv.AppendInt(b, int64(row), 10)
		})
		resp.Parameters = map[string]any{"out_of_training_range": sc.extrapolated, "extrapolation_reasons": by,
			"extrapolated_rows": json.RawMessage(appendExtrapolatedRows(nil, &sc)), "warnings": json.RawMessage(warnings)}
		if truncated {
			resp.Parameters["warnings_truncated"] = true
		}
	}
	for _, name := range outputs {
		data := map[string][]float64{outMass: sc.fit, outLower: sc.lower, outUpper: sc.upper}[name]
		resp.Outputs = append(resp.Outputs, modelapi.OIPTensor{Name: name, Shape: []int{len(inputs)}, Datatype: "FP64", Data: data})
	}
	s.logReturned(pl, id, "infer", sv.artifact.Version, inputs, &sc)
	out, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return sv.blob(c, append(out, '\n'))
}

// billTensor is the index of the bill length among tensors (oipInputs
// made sure it is there).
func billTensor(tensors []oipTensorIn) int {
	return slices.IndexFunc(tensors, func(t oipTensorIn) bool { return t.Name == fBill })
}

// oipInputs checks the request tensors and turns them into model inputs.
// Shape and naming problems are 400s; bad values are 422s listing each.
func (s *Server) oipInputs(tensors []oipTensorIn) ([]massmodel.Input, error) {
	byName := map[string]int{}
	for i, t := range tensors {
		switch t.Name {
		case fBill, fSpecies, fSex:
		default:
			return nil, badShape("unknown input tensor %s at /inputs/%d; inputs: %s (FP64), %s (BYTES), %s (BYTES)", quote(t.Name), i, fBill, fSpecies, fSex)
		}
		if _, dup := byName[t.Name]; dup {
			return nil, badShape("input tensor %q given twice", t.Name)
		}
		byName[t.Name] = i
	}
	var missing []string
	for _, n := range rawFields {
		if _, ok := byName[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, badShape("missing input tensor(s) %s", strings.Join(missing, ", "))
	}

	n := -1
	cols := map[string][]any{}
	for _, name := range rawFields {
		i := byName[name]
		t := tensors[i]
		want := "BYTES"
		if name == fBill {
			if !numericDatatypes[t.Datatype] {
				return nil, badShape("input %q has datatype %s; want FP64 (or another numeric type)", name, quote(t.Datatype))
			}
		} else if t.Datatype != want {
			return nil, badShape("input %q has datatype %s; want BYTES", name, quote(t.Datatype))
		}
		rows, err := shapeRows(t.Shape)
		if err != nil {
			return nil, badShape("input %q: %v", name, err)
		}
		if n >= 0 && rows != n {
			return nil, badShape("input %q has %d rows, other inputs have %d", name, rows, n)
		}
		n = rows
		if n > s.limits.MaxRows {
			return nil, newProblem(http.StatusUnprocessableEntity, "invalid-input", "Invalid input",
				fmt.Sprintf("%d rows; at most %d per request (MODEL_MAX_ROWS)", n, s.limits.MaxRows))
		}
		var data any
		dec := json.NewDecoder(bytes.NewReader(t.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return nil, badShape("input %q: data is missing or not JSON: %v", name, err)
		}
		flat, ok := flatten(data, len(t.Shape), nil)
		if !ok {
			return nil, badShape("input %q: data must be an array nested no deeper than its shape %s (row-major)", name, shapeString(t.Shape))
		}
		if len(flat) != n {
			return nil, badShape("input %q: shape %s holds %d elements, data has %d", name, shapeString(t.Shape), n, len(flat))
		}
		cols[name] = flat
	}

	var inv invalidInput
	billType := tensors[byName[fBill]].Datatype
	inputs := make([]massmodel.Input, n)
	for r := 0; r < n; r++ {
		bad := false
		check := func(name string, b *badValue) {
			if b != nil {
				bad = true
				inv.add(b.at(fmt.Sprintf("/inputs/%d/data/%d", byName[name], r)))
			}
		}
		in := massmodel.Input{}
		if num, ok := cols[fBill][r].(json.Number); !ok {
			check(fBill, wrongType(fBill, describeJSON(cols[fBill][r])))
		} else if x, err := num.Float64(); err != nil && !math.IsInf(x, 0) {
			check(fBill, wrongType(fBill, describeJSON(num)))
		} else if b := checkDatatype(billType, num); b != nil {
			check(fBill, b)
		} else if b := checkBill(x, num); b != nil {
			check(fBill, b)
		} else {
			in.BillLengthMM = x
		}
		var b *badValue
		if sp, ok := cols[fSpecies][r].(string); !ok {
			b = wrongType(fSpecies, describeJSON(cols[fSpecies][r]))
		} else {
			in.Species, b = checkSpecies(sp)
		}
		check(fSpecies, b)
		if sx, ok := cols[fSex][r].(string); !ok {
			b = wrongType(fSex, describeJSON(cols[fSex][r]))
		} else {
			in.Sex, b = checkSex(sx)
		}
		check(fSex, b)
		if bad {
			inv.rows++
			continue
		}
		inputs[r] = in
	}
	if inv.total > 0 {
		return nil, invalid(&inv)
	}
	return inputs, nil
}

// shapeRows accepts [n] or [n, 1] with n ≥ 1.
func shapeRows(shape []int) (int, error) {
	switch {
	case len(shape) == 1 && shape[0] >= 1:
		return shape[0], nil
	case len(shape) == 2 && shape[0] >= 1 && shape[1] == 1:
		return shape[0], nil
	}
	return 0, fmt.Errorf("shape %s; want [n] or [n, 1] with n ≥ 1", shapeString(shape))
}

// flatten appends the leaves of v, an array nested at most depth levels,
// in row-major order.
func flatten(v any, depth int, dst []any) ([]any, bool) {
	arr, ok := v.([]any)
	if !ok || depth < 1 {
		return dst, false
	}
	for _, e := range arr {
		if inner, ok := e.([]any); ok {
			var good bool
			if dst, good = flatten(inner, depth-1, dst); !good {
				return dst, false
			}
			continue
		}
		dst = append(dst, e)
	}
	return dst, true
}

// describeJSON names a decoded JSON value for an error message.
func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string (" + quote(x) + ")"
	case json.Number:
		return "a number (" + clip(x.String(), maxEcho) + ")"
	case bool:
		return fmt.Sprint(x)
	case map[string]any:
		return "an object"
	}
	return "a value"
}

// shapeString formats a tensor shape for a message, its first
// maxShapeDims dimensions only.
func shapeString(shape []int) string {
	if len(shape) <= maxShapeDims {
		return fmt.Sprint(shape)
	}
	return strings.TrimSuffix(fmt.Sprint(shape[:maxShapeDims]), "]") + " " + clipMark + "] (" + strconv.Itoa(len(shape)) + " dimensions)"
}

// jsonError is encoding/json's message for err, with the unknown field it
// names clipped (it quotes the whole key).
func jsonError(err error) string {
	msg := err.Error()
	if q, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(q); uerr == nil {
			return "json: unknown field " + quote(name)
		}
	}
	return clip(msg, maxDetail)
}

// strictJSON holds an inference request to what /predict asks of its
// body, which encoding/json does not check: nesting at most maxNesting
// deep, no raw control characters in strings, and no key twice in one
// object (encoding/json keeps the last).
func strictJSON(body []byte) error {
	if msg := prescan(body); msg != "" {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "malformed inference request: "+msg)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "malformed inference request: "+clip(err.Error(), maxDetail))
	}
	if msg := duplicateKey(v, ""); msg != "" {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "malformed inference request: "+msg)
	}
	return nil
}

// duplicateKey names the first key given twice in an object within v
// (at JSON pointer ptr), or returns "".
func duplicateKey(v *fastjson.Value, ptr string) string {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		seen := make(map[string]bool, o.Len())
		msg := ""
		o.Visit(func(k []byte, e *fastjson.Value) {
			switch {
			case msg != "":
			case seen[string(k)]:
				where := "the top-level object"
				if ptr != "" {
					where = "the object at " + clip(ptr, maxEcho)
				}
				msg = "key " + quote(string(k)) + " given twice in " + where + "; give each key once"
			default:
				seen[string(k)] = true
				if t := e.Type(); t == fastjson.TypeObject || t == fastjson.TypeArray {
					msg = duplicateKey(e, ptr+"/"+escapePointer(string(k)))
				}
			}
		})
		return msg
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for i, e := range arr {
			if t := e.Type(); t == fastjson.TypeObject || t == fastjson.TypeArray {
				if msg := duplicateKey(e, ptr+"/"+strconv.Itoa(i)); msg != "" {
					return msg
				}
			}
		}
	}
	return ""
}

// integerRanges are the integer datatypes of the protocol, by bit size
// and sign.
var integerRanges = map[string]struct {
	bits     int
	unsigned bool
}{
	"INT8": {8, false}, "INT16": {16, false}, "INT32": {32, false}, "INT64": {64, false},
	"UINT8": {8, true}, "UINT16": {16, true}, "UINT32": {32, true}, "UINT64": {64, true},
}

// checkDatatype checks that a number fits the tensor's datatype: an
// integer datatype takes integers written as such, in its range. (Floating
// point datatypes take any number; the bill length check bounds it.)
func checkDatatype(datatype string, num json.Number) *badValue {
	r, ok := integerRanges[datatype]
	if !ok {
		return nil
	}
	var err error
	if r.unsigned {
		_, err = strconv.ParseUint(string(num), 10, r.bits)
	} else {
		_, err = strconv.ParseInt(string(num), 10, r.bits)
	}
	if err == nil {
		return nil
	}
	lo, hi := "0", strconv.FormatUint(math.MaxUint64>>(64-r.bits), 10)
	if !r.unsigned {
		lo, hi = strconv.FormatInt(math.MinInt64>>(64-r.bits), 10), strconv.FormatInt(math.MaxInt64>>(64-r.bits), 10)
	}
	return &badValue{
		detail:   "got " + clip(num.String(), maxEcho) + ", which is not " + datatype,
		expected: "an integer from " + lo + " to " + hi + " (the tensor's datatype is " + datatype + "; send FP64 for decimals)",
	}
}
