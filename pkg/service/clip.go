package service

import "strconv"

// maxLoggedURI bounds the request target in an access line. The server
// takes up to 64 KiB of headers, and a log line should stay under the
// 16 KiB at which Docker's log drivers split lines (with room for zap to
// escape every byte, 6 bytes each).
const maxLoggedURI = 1 << 10

// clipURI returns uri, or its first maxLoggedURI bytes and its length.
func clipURI(uri string) string {
	if len(uri) <= maxLoggedURI {
		return uri
	}
	return uri[:maxLoggedURI] + "… (" + strconv.Itoa(len(uri)) + " bytes)"
}
