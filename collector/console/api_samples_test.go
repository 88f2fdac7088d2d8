package console

import (
	"net/url"
	"strings"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestAPISamplesAndRequest(t *testing.T) {
	srv, seed := newAPIServer(t)
	samplesURL := srv.URL + "/api/samples?limit=5&endpoint=" + url.QueryEscape(seed.regressed) + "&path=" + url.QueryEscape(seed.regressedField)
	code, _, body := call(t, "GET", samplesURL, "", "")
	if code != 200 {
		t.Fatalf("samples: %d %s", code, body)
	}
	page := decode[shadowdiffv1.ListSamplesResponse](t, body)
	if len(page.Samples) != 5 || page.NextPageToken == "" {
		t.Fatalf("samples = %d, next page %q; want 5 and more", len(page.Samples), page.NextPageToken)
	}
	rec := page.Samples[0]
	if rec.Primary == nil || rec.Secondary == nil || rec.Candidate == nil || rec.Endpoint != seed.regressed {
		t.Fatalf("sample lacks a digest or its endpoint: %v", rec)
	}
	byPath := map[string]map[shadowdiffv1.Comparison]*shadowdiffv1.FieldDifference{}
	for _, d := range rec.Differences {
		if byPath[d.Path] == nil {
			byPath[d.Path] = map[shadowdiffv1.Comparison]*shadowdiffv1.FieldDifference{}
		}
		byPath[d.Path][d.Comparison] = d
	}
	raw, noise := shadowdiffv1.Comparison_COMPARISON_RAW, shadowdiffv1.Comparison_COMPARISON_NOISE
	// The regression: raw values collected on both sides, primary and
	// secondary agreed (definite), not noise, no primary/secondary difference.
	if d := byPath[seed.regressedField][raw]; d == nil || !d.Definite || d.Noise ||
		d.Left.GetRawValue() != seed.primaryValue || d.Right.GetRawValue() != seed.candidateValue {
		t.Errorf("%s raw difference = %v; want definite, not noise, %q -> %q", seed.regressedField, d, seed.primaryValue, seed.candidateValue)
	}
	if d := byPath[seed.regressedField][noise]; d != nil {
		t.Errorf("%s differs between primary and secondary: %v", seed.regressedField, d)
	}
	// The timestamp differs on every side: noise on both comparisons,
	// hashes only (no raw value collected).
	if d := byPath[seed.noiseField][raw]; d == nil || !d.Noise || d.Definite || d.Left.RawValue != nil {
		t.Errorf("%s raw difference = %v; want noise, not definite, hashed", seed.noiseField, d)
	}
	if d := byPath[seed.noiseField][noise]; d == nil {
		t.Errorf("%s has no primary/secondary difference", seed.noiseField)
	}
	if byPath[seed.sameField] != nil {
		t.Errorf("%s differs: %v", seed.sameField, byPath[seed.sameField])
	}

	// Paging continues where the first page stopped.
	code, _, body = call(t, "GET", samplesURL+"&page_token="+url.QueryEscape(page.NextPageToken), "", "")
	if code != 200 {
		t.Fatalf("second page: %d %s", code, body)
	}
	for _, s := range decode[shadowdiffv1.ListSamplesResponse](t, body).Samples {
		for _, first := range page.Samples {
			if s.PairingKey == first.PairingKey {
				t.Errorf("sample %s on both pages", s.PairingKey)
			}
		}
	}

	code, _, body = call(t, "GET", srv.URL+"/api/requests?key="+url.QueryEscape(rec.PairingKey), "", "")
	if got := decode[shadowdiffv1.RequestRecord](t, body); code != 200 || got.PairingKey != rec.PairingKey || got.NotComparedReason != "" {
		t.Errorf("request %s: %d %s", rec.PairingKey, code, body)
	}
}

// Requests that were not compared say why.
func TestAPINotComparedRequests(t *testing.T) {
	srv, _ := newAPIServer(t)
	for key, want := range map[string]string{
		"req-lost-0000": "no candidate digest",
		"req-lost-0006": "candidate had no response",
		"req-post-0003": "side effect",
	} {
		code, _, body := call(t, "GET", srv.URL+"/api/requests?key="+key, "", "")
		if code != 200 {
			t.Errorf("request %s: %d %s", key, code, body)
			continue
		}
		rec := decode[shadowdiffv1.RequestRecord](t, body)
		if !strings.Contains(rec.NotComparedReason, want) || len(rec.Differences) != 0 || rec.Primary == nil {
			t.Errorf("request %s: not compared because %q, %d differences; want %q, none", key, rec.NotComparedReason, len(rec.Differences), want)
		}
	}
}
