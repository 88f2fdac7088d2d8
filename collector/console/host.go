package console

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// hostCheck refuses requests whose Host header names a host the console
// does not know as its own: a defence against DNS rebinding, where a web
// page the user opened re-points its own name at the console (a
// kubectl port-forward on localhost, a pod IP) and, being same-origin
// then, reads the results and changes noise rules. A rebinding attack
// needs a name the attacker's DNS answers for, so the console always
// accepts what no such name can be: IP literals, localhost and its
// subdomains, single-label names (a Service in its namespace) and
// in-cluster names ending in .svc or .svc.cluster.local. Any other name,
// such as an Ingress host or a Service under another cluster domain, must
// be listed in allowed: "name" matches that host, ".example.com" that
// domain and its subdomains, "*" any host.
func hostCheck(allowed []string, next http.Handler) http.Handler {
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

// ownHost reports whether host is a name no one outside the cluster or
// the machine can make a browser resolve.
func ownHost(host string) bool {
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if !strings.Contains(host, ".") {
		return true
	}
	// Not any name with ".svc." in it: whoever owns example.com owns
	// x.svc.example.com too. Other cluster domains are listed.
	return strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".svc.cluster.local")
}

func listed(host string, list []string) bool {
	for _, a := range list {
		if host == a || strings.HasPrefix(a, ".") && (host == a[1:] || strings.HasSuffix(host, a)) {
			return true
		}
	}
	return false
}
