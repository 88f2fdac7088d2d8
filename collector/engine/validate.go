package engine

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Limits of one digest (the filter's own limits are lower by default).
const (
	maxPairingKeyLen = 256
	maxMethodLen     = 32
	maxPathLen       = 8192
	maxFieldPathLen  = 2048
	maxFields        = 8192
	maxHeaders       = 512
	maxHeaderNameLen = 256
	maxRawValueLen   = 1024
	maxEndpointLen   = 512
	// maxEndpointKeyLen is the longest endpoint name the collector makes
	// (method, space, templated path): queries must take any of them.
	// Templating makes a path at most 5/2 as long ("/1" → "/{id}").
	// maxEndpointLen bounds the names users and filters choose.
	maxEndpointKeyLen = maxMethodLen + 1 + maxPathLen*5/2
)

// ValidationError says why a digest is malformed. Field is a bounded name
// (fit for a metric label); Error gives the full reason.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate reports why a digest is malformed, or nil.
func Validate(d *shadowdiffv1.ResponseDigest) error {
	return validate(d, slices.IsSortedFunc(d.GetBody().GetFields(), compareEntryPaths))
}

// validate is Validate for a digest whose body fields are known to be
// sorted by path or not.
func validate(d *shadowdiffv1.ResponseDigest, sorted bool) error {
	if d == nil {
		return invalid("digest", "missing")
	}
	if err := validateIdentity(d); err != nil {
		return err
	}
	if field, ok := validStrings(d); !ok {
		return invalid(field, "not valid UTF-8")
	}
	if d.Skip < 0 || d.Skip > shadowdiffv1.SkipReason_SKIP_REASON_NO_RESPONSE {
		return invalid("skip", "unknown value %d", d.Skip)
	}
	if d.Skip == shadowdiffv1.SkipReason_SKIP_REASON_UNSPECIFIED && (d.Status < 100 || d.Status > 599) {
		return invalid("status", "%d outside 100..599 (allowed only with skip)", d.Status)
	}
	if d.Status > 599 {
		return invalid("status", "%d above 599", d.Status)
	}
	if d.StartUnixNanos < 0 {
		return invalid("start_unix_nanos", "negative")
	}
	if err := validateHeaders(d.Headers); err != nil {
		return err
	}
	return validateBody(d.Body, sorted)
}

func validateIdentity(d *shadowdiffv1.ResponseDigest) error {
	switch {
	case d.PairingKey == "":
		return invalid("pairing_key", "required")
	case len(d.PairingKey) > maxPairingKeyLen:
		return invalid("pairing_key", "longer than %d bytes", maxPairingKeyLen)
	case hasControl(d.PairingKey):
		return invalid("pairing_key", "contains control characters")
	case d.Role == shadowdiffv1.Role_ROLE_UNSPECIFIED:
		return invalid("role", "ROLE_UNSPECIFIED")
	case d.Role < 0 || d.Role > shadowdiffv1.Role_ROLE_CANDIDATE:
		return invalid("role", "unknown value %d", d.Role)
	}
	method, path := d.GetEndpoint().GetMethod(), d.GetEndpoint().GetPath()
	if method == "" {
		method = d.GetRequest().GetMethod()
	}
	if path == "" {
		path = d.GetRequest().GetPath()
	}
	switch {
	case method == "":
		return invalid("method", "required (endpoint.method or request.method)")
	case len(method) > maxMethodLen || !isToken(method):
		return invalid("method", "not an HTTP method: %q", truncate(method, 40))
	case len(path) == 0 || path[0] != '/':
		return invalid("path", "must start with \"/\": %q", truncate(path, 80))
	case len(path) > maxPathLen:
		return invalid("path", "longer than %d bytes", maxPathLen)
	case hasControl(path):
		return invalid("path", "contains control characters")
	case len(d.GetEndpoint().GetRouteName()) > maxEndpointLen:
		return invalid("route_name", "longer than %d bytes", maxEndpointLen)
	}
	return nil
}

func validateHeaders(hs []*shadowdiffv1.HeaderDigest) error {
	if len(hs) > maxHeaders {
		return invalid("headers", "%d headers, at most %d", len(hs), maxHeaders)
	}
	// The filter sends names in order, where a name listed twice is next
	// to itself; a set of the names is built only for a list out of order.
	var seen map[string]bool
	for i, h := range hs {
		switch {
		case h == nil || h.Name == "":
			return invalid("headers", "header %d has no name", i)
		case len(h.Name) > maxHeaderNameLen:
			return invalid("headers", "header %d: name longer than %d bytes", i, maxHeaderNameLen)
		case !isToken(h.Name):
			return invalid("headers", "header %d: name %q is not an HTTP token (RFC 9110)", i, truncate(h.Name, 40))
		case hasUpper(h.Name):
			// As Envoy and HTTP/2 write them: "Date" and "date" would be
			// two paths.
			return invalid("headers", "header %q: name is not lower-case", truncate(h.Name, 40))
		case headerListed(hs, i, &seen):
			return invalid("headers", "header %q listed twice", truncate(h.Name, 40))
		case len(h.GetRawValue()) > maxRawValueLen:
			return invalid("headers", "header %q: raw value longer than %d bytes", truncate(h.Name, 40), maxRawValueLen)
		case !validShape(h.Shape):
			return invalid("headers", "header %q: unknown shape %d", truncate(h.Name, 40), h.Shape)
		}
	}
	return nil
}

// headerListed reports whether the name of hs[i] is among hs[:i], whose
// names are valid and distinct. While the names are in strictly increasing
// order only the previous one can be equal; *seen, the set of the names
// from the first one out of order on, is nil until then.
func headerListed(hs []*shadowdiffv1.HeaderDigest, i int, seen *map[string]bool) bool {
	name := hs[i].Name
	if *seen == nil {
		if i == 0 || hs[i-1].Name < name {
			return false
		}
		if hs[i-1].Name == name {
			return true
		}
		*seen = make(map[string]bool, len(hs))
		for _, h := range hs[:i] {
			(*seen)[h.Name] = true
		}
	}
	if (*seen)[name] {
		return true
	}
	(*seen)[name] = true
	return false
}

func validateBody(b *shadowdiffv1.BodyDigest, sorted bool) error {
	if b == nil {
		return nil
	}
	if b.Kind < 0 || b.Kind > shadowdiffv1.BodyKind_BODY_KIND_BINARY {
		return invalid("body.kind", "unknown value %d", b.Kind)
	}
	if len(b.Fields) > maxFields {
		return invalid("body.fields", "%d fields, at most %d", len(b.Fields), maxFields)
	}
	// Sorted fields (as Ingest leaves them) show duplicates side by side.
	var seen map[string]bool
	if !sorted {
		seen = make(map[string]bool, len(b.Fields))
	}
	for i, f := range b.Fields {
		if f == nil {
			return invalid("body.fields", "field %d is empty", i)
		}
		dup := seen[f.Path] || (sorted && i > 0 && b.Fields[i-1].Path == f.Path)
		if err := validateField(i, f.Path, f.Type, f.Shape, f.GetRawValue(), dup); err != nil {
			return err
		}
		if !sorted {
			seen[f.Path] = true
		}
	}
	return nil
}

// validateFlat checks body fields in flat form, sorted by path, as
// validateBody checks them in a digest.
func validateFlat(fields []flatEntry) error {
	if len(fields) > maxFields {
		return invalid("body.fields", "%d fields, at most %d", len(fields), maxFields)
	}
	for i := range fields {
		f := &fields[i]
		raw := ""
		if f.rawValue != nil {
			raw = *f.rawValue
		}
		if err := validateField(i, f.path, f.typ, f.shape, raw, i > 0 && fields[i-1].path == f.path); err != nil {
			return err
		}
	}
	return nil
}

// validateField checks the i-th body field; dup says its path came before.
func validateField(i int, path string, typ shadowdiffv1.JsonType, shape shadowdiffv1.ValueShape, raw string, dup bool) error {
	switch {
	case len(path) > maxFieldPathLen:
		return invalid("body.fields", "field %d: path longer than %d bytes", i, maxFieldPathLen)
	case !utf8.ValidString(path):
		return invalid("body.fields", "field %d: path %q is not valid UTF-8", i, truncate(path, 80))
	case hasControl(path):
		// The filter writes them \xNN; the collector joins paths with
		// them in its request signatures.
		return invalid("body.fields", "field %d: path %q contains control characters", i, truncate(path, 80))
	case dup:
		return invalid("body.fields", "path %q listed twice", truncate(path, 80))
	case typ < 0 || typ > shadowdiffv1.JsonType_JSON_TYPE_MIXED:
		return invalid("body.fields", "path %q: unknown type %d", truncate(path, 80), typ)
	case !validShape(shape):
		return invalid("body.fields", "path %q: unknown shape %d", truncate(path, 80), shape)
	case len(raw) > maxRawValueLen:
		return invalid("body.fields", "path %q: raw value longer than %d bytes", truncate(path, 80), maxRawValueLen)
	case !utf8.ValidString(raw):
		return invalid("body.fields", "path %q: raw value is not valid UTF-8", truncate(path, 80))
	}
	return nil
}

// sortDigest orders body fields by path and headers by name, in place,
// so that diffs merge without copying. Order carries no meaning.
func sortDigest(d *shadowdiffv1.ResponseDigest) {
	if d == nil {
		return
	}
	if fs := d.GetBody().GetFields(); !slices.IsSortedFunc(fs, compareEntryPaths) {
		slices.SortStableFunc(fs, compareEntryPaths)
	}
	byName := func(x, y *shadowdiffv1.HeaderDigest) int { return strings.Compare(x.GetName(), y.GetName()) }
	if !slices.IsSortedFunc(d.Headers, byName) {
		slices.SortStableFunc(d.Headers, byName)
	}
}

func compareEntryPaths(x, y *shadowdiffv1.FieldEntry) int {
	return strings.Compare(x.GetPath(), y.GetPath())
}

func validShape(s shadowdiffv1.ValueShape) bool {
	return s >= 0 && s <= shadowdiffv1.ValueShape_VALUE_SHAPE_MIXED
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as
// methods and header names are. By table: header names are checked for
// every digest.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return s != ""
}

var tchar = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t[c] = true
	}
	return t
}()

// validStrings reports whether the digest's string fields but its body
// fields' (validateField checks those) are valid UTF-8, as protobuf
// requires: stored, a string that is not cannot be sent back to a client
// (protobuf-go refuses to encode it) nor be a metric label (Prometheus
// panics). It names the first field that is not.
func validStrings(d *shadowdiffv1.ResponseDigest) (field string, ok bool) {
	w, ep, rq, b := d.GetWorkload(), d.GetEndpoint(), d.GetRequest(), d.GetBody()
	strs := [...]string{d.PairingKey, w.GetName(), w.GetNamespace(), w.GetVersion(), w.GetInstance(), w.GetPluginName(),
		ep.GetMethod(), ep.GetRouteName(), ep.GetPath(), ep.GetAuthority(), rq.GetMethod(), rq.GetPath(),
		b.GetContentType(), b.GetContentEncoding(), b.GetError()}
	// Nearly always ASCII: one pass over the bytes instead of a call per
	// string (23 calls of utf8.ValidString took ~200 ns a digest).
	var or byte
	for _, s := range strs {
		or |= orBytes(s)
	}
	for _, h := range d.Headers {
		or |= orBytes(h.GetName()) | orBytes(h.GetRawValue())
	}
	if or < utf8.RuneSelf {
		return "", true
	}
	names := [len(strs)]string{"pairing_key", "workload.name", "workload.namespace", "workload.version", "workload.instance",
		"workload.plugin_name", "endpoint.method", "endpoint.route_name", "endpoint.path", "endpoint.authority",
		"request.method", "request.path", "body.content_type", "body.content_encoding", "body.error"}
	for i, s := range strs {
		if !utf8.ValidString(s) {
			return names[i], false
		}
	}
	for _, h := range d.Headers {
		if !utf8.ValidString(h.GetName()) || !utf8.ValidString(h.GetRawValue()) {
			return "headers", false
		}
	}
	return "", true
}

// orBytes is the bitwise or of the bytes of s: below utf8.RuneSelf, s is
// ASCII.
func orBytes(s string) byte {
	var or byte
	for i := 0; i < len(s); i++ {
		or |= s[i]
	}
	return or
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
