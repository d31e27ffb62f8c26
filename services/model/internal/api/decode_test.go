package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// FuzzDecode checks the /predict decoder's contract on arbitrary bodies: it
// never panics; it calls a body malformed exactly when encoding/json does (or
// when it nests too deep to parse safely);
// and whatever it accepts is a non-empty batch of valid inputs.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`,
		`[{"bill_length_mm": 45.0, "species_Chinstrap": false, "species_Gentoo": false, "sex_male": true}]`,
		`[{"bill_length_mm": 1e999, "species": "Adelie", "sex": "female"}, {"x": 1}]`,
		`{"bill_length_mm": 45, "species_Chinstrap": 1, "species_Gentoo": 0, "sex_male": 0}`,
		`[]`, `{}`, `null`, `[1, "a", null]`, `{"bill_length_mm": NaN}`, `{"a\u0000": "\ud800"}`,
		`{"bill_length_mm": 45, "bill_length_mm": 46, "species": "Gentoo", "sex": "male"}`,
		strings.Repeat("[", 40) + strings.Repeat("]", 40), `"\u0000\\"`,
		`{"` + strings.Repeat("\xff", 200) + `": 1, "species": "` + strings.Repeat("\xff", 200) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := newDecoder()
		inputs, err := d.decode(body, 50, nil)
		var se *syntaxError
		var inv *invalidInput
		switch {
		case errors.As(err, &se):
			// Nesting beyond maxNesting is refused before validation,
			// valid or not.
			if json.Valid(body) && !strings.Contains(se.msg, "nested more than") {
				t.Fatalf("valid JSON called malformed: %q: %v", body, err)
			}
		case errors.As(err, &inv):
			if !json.Valid(body) {
				t.Fatalf("malformed JSON not reported as such: %q", body)
			}
			if inv.total == 0 || len(inv.errs) == 0 || len(inv.errs) > maxListedErrors {
				t.Fatalf("invalid input with %d/%d errors", len(inv.errs), inv.total)
			}
			// Whatever the body, the listed errors stay within their bound.
			if listed, _ := json.Marshal(inv.errs); len(listed) > maxListedBytes {
				t.Fatalf("%d bytes of listed errors for a %d-byte body", len(listed), len(body))
			}
		case err != nil:
			t.Fatalf("unexpected error type %T: %v", err, err)
		default:
			if !json.Valid(body) {
				t.Fatalf("malformed JSON accepted: %q", body)
			}
			if len(inputs) == 0 || len(inputs) > 50 {
				t.Fatalf("accepted %d inputs", len(inputs))
			}
			for _, in := range inputs {
				if massmodel.CheckBillLength(in.BillLengthMM) != "" || !in.Species.Valid() || !in.Sex.Valid() {
					t.Fatalf("accepted invalid input %+v from %q", in, body)
				}
			}
		}
	})
}

func TestDecoderReuse(t *testing.T) {
	d := newDecoder()
	if _, err := d.decode([]byte(`[{"bill_length_mm": -1, "species": "Gentoo", "sex": "male"}]`), 10, nil); err == nil {
		t.Fatal("bad record accepted")
	}
	// A decoder that saw errors decodes the next body cleanly.
	in, err := d.decode([]byte(`[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}]`), 10, nil)
	if err != nil || len(in) != 1 {
		t.Fatalf("after an error: %v, %v", in, err)
	}
}

// TestLenientNumbersAreMalformed: the parser hands over any run of number
// characters; the decoder must still call a body with a number JSON does
// not allow malformed, wherever the number is.
func TestLenientNumbersAreMalformed(t *testing.T) {
	for _, n := range []string{"+45", "045", ".5", "45.", "4-5", "1e", "1e+", "-", "--1", "1.2.3", "inf", "-nan"} {
		for _, body := range []string{
			`{"bill_length_mm": ` + n + `, "species": "Gentoo", "sex": "male"}`,
			`[{"bill_length_mm": 45, "species_Chinstrap": ` + n + `, "species_Gentoo": false, "sex_male": true}]`,
		} {
			_, err := newDecoder().decode([]byte(body), 10, nil)
			var se *syntaxError
			if !errors.As(err, &se) {
				t.Errorf("%s: err = %v, want malformed JSON", body, err)
			}
		}
	}
	for _, n := range []string{"45", "-0", "0", "45.25", "4.5e1", "450E-1", "4.5e+1"} {
		if !validNumber([]byte(n)) {
			t.Errorf("validNumber(%q) = false", n)
		}
	}
}
