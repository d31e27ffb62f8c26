package api

import (
	"strconv"
	"unicode/utf8"
)

// What a client sends is echoed in error answers and log lines only
// clipped, so that no answer and no log line grows with the request: an
// 8 MiB unknown key is named by its first bytes and its length. With
// maxListedBytes and maxDetail this bounds every error answer and its log
// line by maxErrorBytes (checked by TestErrorsDoNotAmplify; the README
// states it).
const (
	maxEcho        = 64        // bytes of one client value shown in a message
	maxDetail      = 1 << 10   // bytes of a problem's detail
	maxListedBytes = 12 << 10  // bytes of the field errors listed, as JSON
	maxErrorBytes  = 16 << 10  // an error answer or log line, whatever the request
	maxInstance    = 256       // bytes of the request path in a problem's instance
	maxShapeDims   = 8         // dimensions of a tensor shape shown in a message
	clipMark       = "…"       // where a clipped value was cut
	bytesNote      = " bytes)" // ends "(N bytes)"
)

// quote returns s Go-quoted for a message: control characters and invalid
// UTF-8 escaped (\xff), at most maxEcho bytes of s shown, then its length
// when it is longer: "abc"… (8388608 bytes).
func quote(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cut(s, maxEcho)]) + clipMark + " (" + strconv.Itoa(len(s)) + bytesNote
}

// clip returns text for a message (s is ASCII or already escaped), cut to
// at most max bytes and followed by its length when it is longer.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:cut(s, max)] + clipMark + " (" + strconv.Itoa(len(s)) + bytesNote
}

// cut is where to cut s to keep at most n bytes: not inside a UTF-8
// sequence, so that a valid string stays valid.
func cut(s string, n int) int {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}
