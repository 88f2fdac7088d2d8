package engine

import (
	"fmt"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// flatResponse is a response in the engine's flat form (no source
// entries), as pending digests are kept.
func flatResponse(date uint64, price uint64) *response {
	d := &shadowdiffv1.ResponseDigest{Status: 200, Headers: []*shadowdiffv1.HeaderDigest{{Name: "date", ValueHash: date}},
		Body: &shadowdiffv1.BodyDigest{Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON}}
	return &response{d: d, fields: []flatEntry{{path: "price", typ: shadowdiffv1.JsonType_JSON_TYPE_NUMBER, valueHash: price}}}
}

// Entries handed out for one request stay as they were while later
// requests are diffed: records keep them until they are stored.
func TestDifferEntriesOutliveLaterRequests(t *testing.T) {
	var df differ
	var kept [][]fieldDiff
	for i := range 3 * entryChunk {
		n := uint64(i)
		kept = append(kept, df.responses(nil, flatResponse(n, n), flatResponse(n+1000, n+2000)))
	}
	for i, diffs := range kept {
		n := uint64(i)
		if len(diffs) != 2 || diffs[0].path != "body.price" || diffs[1].path != "headers.date" {
			t.Fatalf("request %d: %v, want body.price and headers.date", i, diffs)
		}
		if l, r := diffs[0].left, diffs[0].right; l.Path != "price" || l.ValueHash != n || r.ValueHash != n+2000 {
			t.Errorf("request %d: body.price entries %v / %v", i, l, r)
		}
		if l, r := diffs[1].left, diffs[1].right; l.Path != "headers.date" || l.ValueHash != n || r.ValueHash != n+1000 {
			t.Errorf("request %d: headers.date entries %v / %v", i, l, r)
		}
	}
}

func TestQueryPathsAreBounded(t *testing.T) {
	var q queryPaths
	for i := range maxQueryPaths + 100 {
		name := fmt.Sprintf("x-id-%d", i)
		if got := q.headerName(name); got != "headers."+name {
			t.Fatalf("headerName(%q) = %q", name, got)
		}
		p := fmt.Sprintf("items.%d", i)
		if got := q.bodyField(p); got != "body."+p {
			t.Fatalf("bodyField(%q) = %q", p, got)
		}
	}
	if len(q.header) != maxQueryPaths || len(q.body) != maxQueryPaths {
		t.Errorf("caches hold %d header and %d body paths, want %d each", len(q.header), len(q.body), maxQueryPaths)
	}
	if q.bodyField("") != "body" || q.bodyField("[].id") != "body[].id" {
		t.Errorf("root and array paths: %q %q", q.bodyField(""), q.bodyField("[].id"))
	}
}
