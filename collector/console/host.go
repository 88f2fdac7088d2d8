package console

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// GuardHosts refuses requests whose Host header names a host the
// collector's HTTP listener does not know as its own: a defence against
// DNS rebinding, where a web page the user opened re-points its own name
// at the console (a kubectl port-forward on localhost, a pod IP) and,
// being same-origin then, reads the results and changes noise rules.
// Only IP literals and localhost are accepted by default: any name,
// in-cluster ones included, could be answered by someone on the user's
// network (multicast DNS for .local, LLMNR for single labels, a hostile
// resolver for the rest). Other names, such as an Ingress host or a
// Service's, must be listed in allowed: "name" matches that host,
// ".example.com" that domain and its subdomains, "*" any host (see
// CheckAllowedHosts). The console applies it to itself; the collector
// also puts /metrics behind it.
func GuardHosts(allowed []string, next http.Handler) http.Handler {
	anyHost := false
	list := make([]string, 0, len(allowed))
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch a {
		case "":
		case "*":
			anyHost = true
		default:
			list = append(list, strings.TrimSuffix(a, "."))
		}
	}
	if anyHost {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host := hostName(r.Host); host != "" && !ownHost(host) && !listed(host, list) {
			if len(host) > 100 {
				host = host[:100] + "..."
			}
			writeError(w, http.StatusForbidden, "PermissionDenied", "the console does not answer to host "+
				strconv.Quote(host)+": add it to --console-allowed-hosts (a guard against DNS rebinding)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CheckAllowedHosts reports the first entry of an allowed-hosts list that
// could never match a Host header: a scheme, a port, a path or a
// "*.domain" wildcard, as other tools' settings have them.
func CheckAllowedHosts(allowed []string) error {
	for _, a := range allowed {
		a = strings.TrimSpace(a)
		switch {
		case a == "" || a == "*":
		case strings.HasPrefix(a, "*."):
			return fmt.Errorf("%q: write a domain and its subdomains as %q", a, a[1:])
		case strings.ContainsAny(a, ":/@ []"):
			return fmt.Errorf("%q: a host name only, without scheme, port or path (IP addresses need no entry)", a)
		case strings.Contains(a, "*"):
			return fmt.Errorf("%q: \"*\" stands alone, for any host", a)
		}
	}
	return nil
}

// hostName is the host of a Host header, lower-case, without its port
// and brackets or a trailing dot; "" when the request has none (HTTP/1.0:
// no browser sends such a request).
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	return strings.ToLower(host)
}

// ownHost reports whether host is one no one else can make a browser
// resolve: an IP literal, or localhost.
func ownHost(host string) bool {
	return net.ParseIP(host) != nil || host == "localhost"
}

func listed(host string, list []string) bool {
	for _, a := range list {
		if host == a || strings.HasPrefix(a, ".") && (host == a[1:] || strings.HasSuffix(host, a)) {
			return true
		}
	}
	return false
}
