package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// maxListedErrors caps the field errors listed in one problem response
// (maxListedBytes caps their size); the detail still gives the total.
const maxListedErrors = 100

var (
	rawFields    = []string{fBill, fSpecies, fSex}
	oneHotFields = []string{fBill, fChinstrap, fGentoo, fMale}
	knownFields  = "bill_length_mm, species, sex (raw form) or bill_length_mm, species_Chinstrap, species_Gentoo, sex_male (one-hot form)"
)

// syntaxError is a body that is not JSON at all (a 400).
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// invalidInput is valid JSON with invalid values (a 422). It lists the
// first field errors, up to maxListedErrors of them in maxListedBytes, and
// counts them all.
type invalidInput struct {
	errs  []modelapi.FieldError
	total int
	rows  int // records with at least one error
	size  int // of errs, as JSON
	full  bool
}

func (e *invalidInput) Error() string {
	return fmt.Sprintf("%d invalid field(s) in %d record(s)", e.total, e.rows)
}

func (e *invalidInput) add(fe modelapi.FieldError) {
	e.total++
	if e.full {
		return
	}
	b, _ := json.Marshal(fe)
	if len(e.errs) == maxListedErrors || e.size+len(b)+1 > maxListedBytes {
		e.full = true // later errors are counted, not listed: the list stays in order
		return
	}
	e.size += len(b) + 1
	e.errs = append(e.errs, fe)
}

// decoder turns a /predict body into model inputs. It is not safe for
// concurrent use; the handler pools them.
type decoder struct {
	p      fastjson.Parser
	inv    invalidInput
	inputs []massmodel.Input // reused across requests
	scores scores            // reused across requests
	log    predictionLog     // reused across requests
	num    []byte            // scratch for number

	// State of the record being decoded, read by visit.
	row     int  // index of the record in the array
	inArray bool // false for a lone object
	rec     record
	visit   func(key []byte, v *fastjson.Value) // d.visitField, bound once
}

type record struct {
	bill                        float64
	species                     penguins.Species
	sex                         penguins.Sex
	chin, gentoo, male          bool
	hasBill, hasSpecies, hasSex bool
	hasChin, hasGentoo, hasMale bool
	bad                         bool
}

func newDecoder() *decoder {
	d := &decoder{}
	d.visit = d.visitField
	return d
}

// A decoder keeps what its largest request grew it to: the parser's
// values, the inputs, scores and log columns. An accepted body has a few
// values per record, so a decoder that accepted at most maxPooledRows
// records holds a few megabytes; a rejected body may have held anything
// (a million-element array), so only a small one's decoder is kept.
const (
	maxPooledRows       = 10_000 // make perf's batch
	maxPooledRejectBody = 64 << 10
)

// keep reports whether a decoder that decoded a body of n bytes into rows
// records (ok: accepted) may be pooled.
func keep(n, rows int, ok bool) bool {
	if ok {
		return rows <= maxPooledRows
	}
	return n <= maxPooledRejectBody
}

// decode parses body, a JSON record or array of records, appending the
// inputs to dst. It returns a *syntaxError for malformed JSON and an
// *invalidInput listing every bad field otherwise; on error the returned
// slice is meaningless.
func (d *decoder) decode(body []byte, maxRows int, dst []massmodel.Input) ([]massmodel.Input, error) {
	d.inv = invalidInput{}
	if msg := prescan(body); msg != "" {
		return dst, &syntaxError{msg: msg}
	}
	// The parser checks the structure; it is lenient about numbers and
	// escapes, which it does not read. The decoder checks every number it
	// reads, and accepts only known keys and names, so an accepted body is
	// valid JSON; a body with an error is validated in full (malformed()),
	// so a malformed one is called that. One strict pass instead of two.
	v, err := d.p.ParseBytes(body)
	if err != nil {
		if se := malformed(body); se != nil {
			return dst, se
		}
		return dst, &syntaxError{msg: "malformed JSON: " + err.Error()}
	}
	d.log.bills.reset()
	switch v.Type() {
	case fastjson.TypeObject:
		d.inArray = false
		if in, ok := d.record(v); ok {
			dst = append(dst, in)
		}
	case fastjson.TypeArray:
		arr, _ := v.Array()
		if len(arr) == 0 {
			d.inv.add(modelapi.FieldError{Pointer: "", Detail: "empty array", Expected: "at least one record"})
			break
		}
		if len(arr) > maxRows {
			d.inv.add(modelapi.FieldError{Pointer: "", Detail: fmt.Sprintf("%d records", len(arr)), Expected: fmt.Sprintf("at most %d records per request (MODEL_MAX_ROWS)", maxRows)})
			break
		}
		for i, rv := range arr {
			d.row, d.inArray = i, true
			if rv.Type() != fastjson.TypeObject {
				d.fail(d.prefix(), "got "+describe(rv), "a record object", nil)
				d.inv.rows++
				continue
			}
			if in, ok := d.record(rv); ok {
				dst = append(dst, in)
			}
		}
	default:
		d.inv.add(modelapi.FieldError{Pointer: "", Detail: "got " + describe(v), Expected: "a record object or an array of record objects"})
	}
	if d.inv.total > 0 {
		if se := malformed(body); se != nil {
			return dst, se
		}
		inv := d.inv
		return dst, &inv
	}
	return dst, nil
}

// malformed validates body in full, returning nil when it is valid JSON.
func malformed(body []byte) *syntaxError {
	if err := fastjson.ValidateBytes(body); err != nil {
		return &syntaxError{msg: "malformed JSON: " + strings.TrimPrefix(err.Error(), "cannot parse JSON: ")}
	}
	return nil
}

// number reads a JSON number strictly, returning its text as sent (kept
// in d.num until the next call). The parser hands over any run of digits,
// signs, dots and exponents; JSON allows fewer.
func (d *decoder) number(v *fastjson.Value) (x float64, text []byte, ok bool) {
	d.num = v.MarshalTo(d.num[:0])
	if !validNumber(d.num) {
		return 0, d.num, false
	}
	x, err := v.Float64()
	return x, d.num, err == nil || math.IsInf(x, 0)
}

// maxNumberText is the longest number the log records as it was sent;
// float64's shortest form never needs more than 24 bytes.
const maxNumberText = 32

// validNumber reports whether b is a number as JSON (RFC 8259) writes one:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// maxNesting bounds how deep arrays and objects may nest. A record is one
// level inside the batch array, and an inference request's deepest data
// four; anything much deeper is no request of ours, and unbounded nesting
// would let a small body exhaust the stack.
const maxNesting = 32

// prescan checks what fastjson's validator does not, in one pass over b: it
// rejects nesting deeper than maxNesting before any recursive parsing, and
// raw control characters inside strings, which JSON forbids. It returns ""
// when b passes.
func prescan(b []byte) string {
	depth := 0
	for i := 0; i < len(b); i++ {
		// Outside strings: skip to the next quote or bracket.
		for i < len(b) && outsideString[b[i]] == 0 {
			i++
		}
		if i == len(b) {
			break
		}
		switch b[i] {
		case '[', '{':
			if depth++; depth > maxNesting {
				return fmt.Sprintf("JSON nested more than %d levels deep at byte %d", maxNesting, i)
			}
		case ']', '}':
			depth--
		case '"':
			// Inside a string: skip to the next quote, backslash or control
			// character.
			for i++; i < len(b); i++ {
				for i < len(b) && insideString[b[i]] == 0 {
					i++
				}
				if i == len(b) {
					break
				}
				if c := b[i]; c == '"' {
					break
				} else if c == '\\' {
					i++ // the escaped byte cannot end the string
				} else {
					return fmt.Sprintf("malformed JSON: unescaped control character 0x%02x in a string at byte %d", c, i)
				}
			}
		}
	}
	return ""
}

// Byte classes for prescan: non-zero marks the bytes it stops at.
var outsideString, insideString = func() (out, in [256]uint8) {
	for _, c := range []byte(`"[]{}`) {
		out[c] = 1
	}
	in['"'], in['\\'] = 1, 1
	for c := 0; c < 0x20; c++ {
		in[c] = 1
	}
	return out, in
}()

// record decodes one object; ok is false when it had errors (recorded).
func (d *decoder) record(v *fastjson.Value) (massmodel.Input, bool) {
	d.rec = record{}
	o, _ := v.Object()
	o.Visit(d.visit)
	r := &d.rec
	raw := r.hasSpecies || r.hasSex
	hot := r.hasChin || r.hasGentoo || r.hasMale
	switch {
	case raw && hot:
		d.fail(d.prefix(), "the record mixes the raw form (species, sex) with the one-hot form (species_Chinstrap, species_Gentoo, sex_male)", "one form per record", nil)
	case hot:
		d.requireAll(oneHotFields, []bool{r.hasBill, r.hasChin, r.hasGentoo, r.hasMale})
		if r.chin && r.gentoo {
			d.fail(d.prefix(), "species_Chinstrap and species_Gentoo are both true", "at most one species indicator true (both false means Adelie)", nil)
		}
	default:
		d.requireAll(rawFields, []bool{r.hasBill, r.hasSpecies, r.hasSex})
	}
	if r.bad {
		d.inv.rows++
		return massmodel.Input{}, false
	}
	in := massmodel.Input{BillLengthMM: r.bill, Species: r.species, Sex: r.sex}
	if hot {
		in.Species = penguins.Adelie
		if r.chin {
			in.Species = penguins.Chinstrap
		} else if r.gentoo {
			in.Species = penguins.Gentoo
		}
		in.Sex = penguins.Female
		if r.male {
			in.Sex = penguins.Male
		}
	}
	return in, true
}

func (d *decoder) requireAll(names []string, present []bool) {
	for i, ok := range present {
		if !ok {
			d.bad(names[i], &badValue{detail: "missing", expected: expectation(names[i]), allowed: allowed(names[i])})
		}
	}
}

// visitField handles one key of the current record.
func (d *decoder) visitField(key []byte, v *fastjson.Value) {
	r := &d.rec
	switch string(key) {
	case fBill:
		if d.dup(&r.hasBill, fBill) {
			return
		}
		if v.Type() != fastjson.TypeNumber {
			d.bad(fBill, wrongType(fBill, describe(v)))
			return
		}
		x, text, ok := d.number(v)
		if !ok {
			d.bad(fBill, wrongType(fBill, describe(v)))
			return
		}
		if b := checkBill(x, v); b != nil {
			d.bad(fBill, b)
			return
		}
		r.bill = x
		if len(text) <= maxNumberText {
			d.log.bills.appendText(text)
		} else {
			// 45.000…0 with a million zeros is 45: the log records it as
			// that, not as sent, so a line stays bounded.
			d.log.bills.appendFloat(x)
		}
	case fSpecies:
		if d.dup(&r.hasSpecies, fSpecies) {
			return
		}
		if s, ok := d.str(v, fSpecies); ok {
			var b *badValue
			if r.species, b = checkSpecies(s); b != nil {
				d.bad(fSpecies, b)
			}
		}
	case fSex:
		if d.dup(&r.hasSex, fSex) {
			return
		}
		if s, ok := d.str(v, fSex); ok {
			var b *badValue
			if r.sex, b = checkSex(s); b != nil {
				d.bad(fSex, b)
			}
		}
	case fChinstrap:
		if !d.dup(&r.hasChin, fChinstrap) {
			r.chin = d.flag(v, fChinstrap)
		}
	case fGentoo:
		if !d.dup(&r.hasGentoo, fGentoo) {
			r.gentoo = d.flag(v, fGentoo)
		}
	case fMale:
		if !d.dup(&r.hasMale, fMale) {
			r.male = d.flag(v, fMale)
		}
	default:
		// The pointer names the key when it can be shown whole; a long or
		// invalid-UTF-8 key is named (clipped) in the detail instead.
		ptr := d.prefix()
		if len(key) <= maxEcho && utf8.Valid(key) {
			ptr += "/" + escapePointer(string(key))
		}
		d.fail(ptr, "unknown field "+quote(string(key)), "only the fields "+knownFields, nil)
	}
}

func (d *decoder) dup(seen *bool, name string) bool {
	if *seen {
		d.fail(d.field(name), "duplicate field", "each field at most once", nil)
		return true
	}
	*seen = true
	return false
}

func (d *decoder) str(v *fastjson.Value, name string) (string, bool) {
	if v.Type() != fastjson.TypeString {
		d.bad(name, wrongType(name, describe(v)))
		return "", false
	}
	b, _ := v.StringBytes()
	return string(b), true
}

// flag reads a one-hot indicator: true/false, or 0/1 as older pandas sends.
func (d *decoder) flag(v *fastjson.Value, name string) bool {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeNumber:
		if x, _, ok := d.number(v); ok && (x == 0 || x == 1) {
			return x == 1
		}
	}
	d.bad(name, wrongType(name, describe(v)))
	return false
}

// prefix is the JSON pointer of the current record, built only for errors.
func (d *decoder) prefix() string {
	if !d.inArray {
		return ""
	}
	return "/" + strconv.Itoa(d.row)
}

func (d *decoder) field(name string) string { return d.prefix() + "/" + name }

// bad records what is wrong with field name of the current record.
func (d *decoder) bad(name string, b *badValue) {
	d.rec.bad = true
	d.inv.add(b.at(d.field(name)))
}

func (d *decoder) fail(pointer, detail, expected string, allowedValues []string) {
	d.rec.bad = true
	d.inv.add(modelapi.FieldError{Pointer: pointer, Detail: detail, Expected: expected, Allowed: allowedValues})
}

// describe names a JSON value's type and, for short scalars, its value.
func describe(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return "a string (" + quote(string(b)) + ")"
	case fastjson.TypeNumber:
		return "a number (" + clip(v.String(), maxEcho) + ")"
	}
	return "a value"
}

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
