// Package perfdata holds the request bodies the model API is measured with,
// shared by its benchmarks and by model-perf so both measure the same work.
package perfdata

import (
	"fmt"
	"strings"
)

// Single is one record in the raw form.
const Single = `{"bill_length_mm": 45.2, "species": "Gentoo", "sex": "male"}`

// Batch returns n records in the one-hot form the book's client sends,
// cycling through species, sexes and bill lengths.
func Batch(n int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bill_length_mm":%.1f,"species_Chinstrap":%t,"species_Gentoo":%t,"sex_male":%t}`,
			35+float64(i%200)/10, i%3 == 1, i%3 == 2, i%2 == 0)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// RawBatch returns n records in the raw form, the more compact of the two:
// 100,000 of them fit in the default body limit (8 MiB).
func RawBatch(n int) []byte {
	species := [...]string{"Adelie", "Chinstrap", "Gentoo"}
	sexes := [...]string{"female", "male"}
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bill_length_mm":%.1f,"species":%q,"sex":%q}`, 35+float64(i%200)/10, species[i%3], sexes[i%2])
	}
	b.WriteByte(']')
	return []byte(b.String())
}
