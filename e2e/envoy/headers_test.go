package envoy

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestHTTPHeaderKeepsEveryValueInOrder(t *testing.T) {
	h := &httpfilter.Headers{}
	for _, f := range [][2]string{
		{":authority", "shop"}, {":path", "/"}, {"accept", "a/1"}, {"x-b", "1"},
		{"accept", "a/2"}, {"x-custom-name", "c"}, {"x-b", "2"}, {"accept", "a/3"},
		{"connection", "keep-alive"}, {"te", "trailers"}, {"te", "gzip"}, {"content-length", "3"},
	} {
		h.Add(f[0], f[1])
	}
	got := httpHeader(h, "content-length")
	want := http.Header{
		"Accept":        {"a/1", "a/2", "a/3"},
		"X-B":           {"1", "2"},
		"X-Custom-Name": {"c"},
		"Te":            {"trailers"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("httpHeader = %v, want %v", got, want)
	}
	// Appending to one name must not write over another's value.
	got["X-Custom-Name"] = append(got["X-Custom-Name"], "d")
	if !reflect.DeepEqual(got["Te"], []string{"trailers"}) || !reflect.DeepEqual(got["X-B"], []string{"1", "2"}) {
		t.Errorf("an append changed other names: %v", got)
	}
}

func TestRequestHeadersAreLowerCaseAndSorted(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "http://shop/x?y=1", nil)
	r.RequestURI = "/x?y=1"
	r.Header = http.Header{"X-Request-Id": {"id"}, "Accept": {"a", "b"}, "X-Odd-Name": {"o"}, "Connection": {"close"}}
	got := requestHeaders(r).Fields
	var want []httpfilter.Header
	for _, f := range [][2]string{
		{":authority", "shop"}, {":path", "/x?y=1"}, {":method", "GET"}, {":scheme", "http"},
		{"accept", "a"}, {"accept", "b"}, {"x-odd-name", "o"}, {"x-request-id", "id"},
	} {
		want = append(want, httpfilter.Header{Name: f[0], Value: f[1]})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requestHeaders = %v, want %v", got, want)
	}
}
