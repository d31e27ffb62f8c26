package service

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// IPRanges is a list of CIDR ranges, from a comma-separated variable such
// as "10.0.0.0/8, fd00::/8". A bare address is a range of one.
type IPRanges []*net.IPNet

// Decode implements envconfig.Decoder.
func (r *IPRanges) Decode(s string) error {
	var out IPRanges
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return fmt.Errorf("want comma-separated CIDR ranges such as 10.0.0.0/8,fd00::/8, got %q", f)
			}
			bits := 8 * net.IPv6len
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 8*net.IPv4len
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return fmt.Errorf("want comma-separated CIDR ranges such as 10.0.0.0/8,fd00::/8, got %q", f)
		}
		out = append(out, n)
	}
	*r = out
	return nil
}

func (r IPRanges) String() string {
	s := make([]string, len(r))
	for i, n := range r {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

// IPExtractor returns how a service finds a request's client address (for
// its access log): the connection's peer, unless the peer is a proxy in
// trusted, in which case the nearest untrusted address its X-Forwarded-For
// names (or its X-Real-IP, without X-Forwarded-For). No range is trusted
// by default: anyone can send those headers, so from anyone else they
// would let a client write any address into the logs.
func IPExtractor(trusted IPRanges) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	// Only the ranges given: not Echo's default trust in loopback,
	// link-local and private addresses.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(req *http.Request) string {
		if len(req.Header[echo.HeaderXForwardedFor]) > 0 {
			return xff(req)
		}
		return realIP(req)
	}
}
