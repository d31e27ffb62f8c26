package api

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestErrorsDoNotAmplify sends what each error path echoes, as large as
// the limits let it be (an 8 MiB unknown key of 0xFF bytes, a 1 MiB
// invalid-UTF-8 species, 32 KiB header values, …), and checks that no
// answer and no log line exceeds maxErrorBytes, that invalid UTF-8 is shown
// escaped, and that a clipped value states its length. Before clipping,
// the 8 MiB key came back as a 92 MB answer and a log line as large.
func TestErrorsDoNotAmplify(t *testing.T) {
	const mib = 1 << 20
	f := newFixture(t, Limits{MaxBodyBytes: 9 * mib, MaxRows: 100_000})
	ff := func(n int) string { return strings.Repeat("\xff", n) }
	long := strings.Repeat("a", 32<<10) // header values: the server takes 64 KiB of headers
	rec := func(bill, species, sex string) string {
		return `{"bill_length_mm": ` + bill + `, "species": ` + species + `, "sex": ` + sex + `}`
	}
	many := func(n int, r string) string { return "[" + strings.TrimSuffix(strings.Repeat(r+",", n), ",") + "]" }
	tensor := func(name, dt, shape, data string) string {
		return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": ` + shape + `, "data": ` + data + `}`
	}
	bill, species, sex := tensor(fBill, "FP64", "[1]", "[45]"), tensor(fSpecies, "BYTES", "[1]", `["Gentoo"]`), tensor(fSex, "BYTES", "[1]", `["male"]`)
	infer := func(ts ...string) string { return `{"inputs": [` + strings.Join(ts, ",") + `]}` }
	const inferPath = "/v2/models/penguin_model/infer"

	cases := []struct {
		name, method, path string
		hdr                []string
		body               string
		status             int
		want               string // in the answer: the clipped value's length, or what is said instead
	}{
		{"8 MiB unknown key of 0xFF", "POST", "/predict", nil, `{"` + ff(8*mib) + `": 1}`, 422, `unknown field \"\\xff\\xff`},
		{"unknown keys in every record", "POST", "/predict", nil, many(100, `{"`+ff(64<<10)+`": 1}`), 422, "(65536 bytes)"},
		{"1 MiB invalid-UTF-8 species", "POST", "/predict", nil, rec("45", `"`+ff(mib)+`"`, `"male"`), 422, "(1048576 bytes)"},
		{"long species in every record", "POST", "/predict", nil, many(1000, rec("45", `"`+ff(4<<10)+`"`, `"`+ff(4<<10)+`"`)), 422, "(4096 bytes)"},
		{"1 MiB number", "POST", "/predict", nil, rec(strings.Repeat("9", mib), `"Gentoo"`, `"male"`), 422, "(1048576 bytes), which overflows"},
		{"1 MiB string for a number", "POST", "/predict", nil, rec(`"`+ff(mib)+`"`, `"Gentoo"`, `"male"`), 422, "(1048576 bytes)"},
		{"1 MiB string for a flag", "POST", "/predict", nil, `{"bill_length_mm": 45, "species_Chinstrap": "` + ff(mib) + `", "species_Gentoo": false, "sex_male": true}`, 422, "(1048576 bytes)"},
		{"1 MiB record that is a string", "POST", "/predict", nil, `["` + ff(mib) + `"]`, 422, "(1048576 bytes)"},
		{"malformed after 1 MiB", "POST", "/predict", nil, `{"` + ff(mib) + `" 1}`, 400, "malformed JSON"},
		{"1 MiB raw control characters", "POST", "/predict", nil, `{"` + strings.Repeat("\x01", mib) + `": 1}`, 400, "control character"},
		{"deep nesting", "POST", "/predict", nil, strings.Repeat("[", mib), 400, "nested more than"},
		{"32 KiB content type", "POST", "/predict", []string{"Content-Type", "text/" + long}, "{}", 400, "(32773 bytes)"},
		{"32 KiB content coding", "POST", "/predict", []string{"Content-Encoding", long}, "{}", 415, "(32768 bytes)"},
		{"32 KiB query key", "POST", "/predict?" + long + "=1", nil, "{}", 400, "(32768 bytes)"},
		{"32 KiB interval", "POST", "/predict?interval=" + long, nil, "{}", 400, "(32768 bytes)"},
		{"32 KiB escaped contributions", "POST", "/predict?contributions=" + strings.Repeat("%ff", 10<<10), nil, "{}", 400, "(10240 bytes)"},
		{"malformed 32 KiB query", "POST", "/predict?interval=%zz" + long, nil, "{}", 400, "invalid URL escape"},
		{"32 KiB path of %ff", "GET", "/" + strings.Repeat("%ff", 10<<10), nil, "", 404, "(10241 bytes)"},
		{"32 KiB path, wrong method", "DELETE", "/v2/models/" + long, nil, "", 405, "(32779 bytes)"},

		{"/v2: 1 MiB unknown field", "POST", inferPath, nil, `{"` + ff(mib) + `": 1}`, 400, "bytes)"}, // encoding/json made each 0xff U+FFFD,
		{"/v2: 1 MiB duplicate key", "POST", inferPath, nil, `{"` + ff(mib) + `": 1, "` + ff(mib) + `": 2}`, 400, "(1048576 bytes)"},
		{"/v2: 1 MiB tensor name", "POST", inferPath, nil, infer(bill, species, sex, tensor(ff(mib), "FP64", "[1]", "[1]")), 400, "bytes)"}, // encoding/json made each 0xff U+FFFD,
		{"/v2: 1 MiB datatype", "POST", inferPath, nil, infer(tensor(fBill, ff(mib), "[1]", "[45]"), species, sex), 400, "bytes)"},          // encoding/json made each 0xff U+FFFD,
		{"/v2: 100,000-dimension shape", "POST", inferPath, nil, infer(tensor(fBill, "FP64", "["+strings.TrimSuffix(strings.Repeat("1,", 100_000), ",")+"]", "[45]"), species, sex), 400, "(100000 dimensions)"},
		{"/v2: 1 MiB invalid-UTF-8 species", "POST", inferPath, nil, infer(bill, tensor(fSpecies, "BYTES", "[1]", `["`+ff(mib)+`"]`), sex), 422, "bytes)"},
		{"/v2: long species in every row", "POST", inferPath, nil, infer(tensor(fBill, "FP64", "[1000]", many(1000, "45")), tensor(fSpecies, "BYTES", "[1000]", many(1000, `"`+ff(4<<10)+`"`)), tensor(fSex, "BYTES", "[1000]", many(1000, `"male"`))), 422, "bytes)"},
		{"/v2: 1 MiB number", "POST", inferPath, nil, infer(tensor(fBill, "FP64", "[1]", "["+strings.Repeat("9", mib)+"]"), species, sex), 422, "(1048576 bytes)"},
		{"/v2: 1 MiB number in INT64", "POST", inferPath, nil, infer(tensor(fBill, "INT64", "[1]", "["+strings.Repeat("9", mib)+"]"), species, sex), 422, "(1048576 bytes)"},
		{"/v2: 1 MiB output name", "POST", inferPath, nil, `{"inputs": [` + bill + `,` + species + `,` + sex + `], "outputs": [{"name": "` + ff(mib) + `"}]}`, 400, "bytes)"}, // encoding/json made each 0xff U+FFFD,
		{"/v2: 32 KiB model name", "POST", "/v2/models/" + long + "/infer", nil, infer(bill, species, sex), 404, "(32768 bytes)"},
		{"/v2: 32 KiB version", "GET", "/v2/models/penguin_model/versions/" + long, nil, "", 404, "(32768 bytes)"},
		{"/v2: 32 KiB content type", "POST", inferPath, []string{"Content-Type", "text/" + long}, infer(bill, species, sex), 400, "(32773 bytes)"},
		{"32 KiB version query", "GET", "/monitoring/performance?version=" + long, nil, "", 400, "version id"},

		// Accepted, but the record in the log must stay bounded too.
		{"45.000… with a million zeros", "POST", "/predict", nil, rec("45."+strings.Repeat("0", mib), `"Gentoo"`, `"male"`), 200, `"predict":[5275.66`},
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.logs.TakeAll()
			ctype := "application/json"
			if c.body == "" {
				ctype = ""
			}
			resp, b := f.do(t, c.method, c.path, ctype, c.body, c.hdr...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.500s", resp.StatusCode, c.status, b)
			}
			if len(b) > maxErrorBytes {
				t.Errorf("a %d-byte answer to a %d-byte body; the bound is %d: %.300s…", len(b), len(c.body), maxErrorBytes, b)
			}
			if !strings.Contains(string(b), c.want) {
				t.Errorf("the answer lacks %q: %.2000s", c.want, b)
			}
			if bytes.Contains(b, []byte("\xff")) || bytes.Contains(b, []byte("\x01")) {
				t.Errorf("the answer carries raw bytes of the request")
			}
			for _, e := range f.logs.TakeAll() {
				line, err := enc.EncodeEntry(e.Entry, e.Context)
				if err != nil {
					t.Fatal(err)
				}
				if line.Len() > maxErrorBytes {
					t.Errorf("a %d-byte %q log line; the bound is %d: %.300s…", line.Len(), e.Message, maxErrorBytes, line.Bytes())
				}
				line.Free()
			}
		})
	}
}

// TestQuoteAndClip: what a message shows of a value.
func TestQuoteAndClip(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes: the cut must not split one
	cases := []struct{ got, want string }{
		{quote("Emperor"), `"Emperor"`},
		{quote("\xff\x00"), `"\xff\x00"`},
		{quote(long), `"` + strings.Repeat("é", 32) + `"… (80 bytes)`},
		{quote(strings.Repeat("\xff", 100)), `"` + strings.Repeat(`\xff`, 64) + `"… (100 bytes)`},
		{clip("12345", 5), "12345"},
		{clip("123456", 5), "12345… (6 bytes)"},
		{shapeString([]int{3, 1}), "[3 1]"},
		{shapeString(make([]int, 10)), "[0 0 0 0 0 0 0 0 …] (10 dimensions)"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	for _, p := range []string{"/" + strings.Repeat("a", 300), strings.Repeat("/%ff", 100), "/a" + strings.Repeat("%ff", 100)} {
		req, _ := http.NewRequest("GET", "http://x"+p, nil)
		got := instance(req)
		if len(got) > maxInstance || !strings.HasPrefix(req.URL.EscapedPath(), got) || strings.Contains(got[max(0, len(got)-2):], "%") {
			t.Errorf("instance(%.20s…) = %q", p, got)
		}
	}
}
