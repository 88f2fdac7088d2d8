package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// openLiveConsole is openConsole with the engine at hand, for tests that
// add traffic while the page is open.
func openLiveConsole(t *testing.T) (*consoleUnderTest, *engine.Engine) {
	t.Helper()
	requireBrowser(t)
	eng, clk := openEngine(t)
	ingestSeed(t, eng, clk)
	srv := httptest.NewServer(New(eng.QueryServer(), Options{Title: "shadowdiff", Logger: quietLogger()}))
	t.Cleanup(srv.Close)
	return &consoleUnderTest{browser: startBrowser(t), t: t, url: srv.URL + "/"}, eng
}

// ingestProducts adds n identical GET /api/products requests, so the
// overview's data changes and the next poll redraws it.
func ingestProducts(t *testing.T, eng *engine.Engine, prefix string, n int) {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	var ds []*shadowdiffv1.ResponseDigest
	for i := 0; i < n; i++ {
		for _, role := range roles {
			ds = append(ds, digest(fmt.Sprintf("%s-%04d", prefix, i), role, "GET", seedProdPath, at,
				[]fieldSpec{{"[].name", typString, shapeText, "chair", true}}, "stamp"))
		}
	}
	if _, rejected, err := eng.Ingest(context.Background(), ds); err != nil || len(rejected) > 0 {
		t.Fatalf("ingest: %v %v", rejected, err)
	}
}

// TestBrowserLookupSurvivesRedraw: a pairing key half typed into "Find a
// request" is still there, focused, with its caret, after the overview
// redraws with new data.
func TestBrowserLookupSurvivesRedraw(t *testing.T) {
	c, eng := openLiveConsole(t)
	c.page("/")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	before := c.eval(`return document.querySelector("#total-requests").dataset.value`)
	c.click("#lookup-key")
	c.keys("r", "e", "q", "-", "4", "2")
	c.eval(`document.querySelector("#lookup-key").setSelectionRange(2, 4)`)
	ingestProducts(t, eng, "req-more", 3)
	c.waitFor("redraw with the new requests", `return document.querySelector("#total-requests").dataset.value !== arguments[0]`, before)
	got := c.eval(`const i = document.querySelector("#lookup-key"); return [i.value, document.activeElement === i, i.selectionStart, i.selectionEnd].join()`)
	if got != "req-42,true,2,4" {
		t.Errorf("lookup input after a redraw (value, focused, selection) = %v, want req-42,true,2,4", got)
	}
}

// TestBrowserLongKeyFitsThePage: a 1,900-character JSON key wraps; neither
// the fields table nor the samples page grows past the window.
func TestBrowserLongKeyFitsThePage(t *testing.T) {
	c, eng := openLiveConsole(t)
	key := strings.Repeat("averylongjsonkey", 119) // 1,904 characters
	at := time.Now().Add(-2 * time.Minute)
	var ds []*shadowdiffv1.ResponseDigest
	for i := 0; i < 30; i++ {
		for _, role := range roles {
			v := "1"
			if role == candidateID {
				v = "2"
			}
			ds = append(ds, digest(fmt.Sprintf("req-long-%04d", i), role, "GET", "/api/long", at,
				[]fieldSpec{{key, typString, shapeText, v, true}}, "stamp"))
		}
	}
	if _, rejected, err := eng.Ingest(context.Background(), ds); err != nil || len(rejected) > 0 {
		t.Fatalf("ingest: %v %v", rejected, err)
	}
	const widths = `return [document.documentElement.scrollWidth, window.innerWidth, (document.querySelector(arguments[0]) || {}).scrollWidth || 0]`
	fits := func(where, table string) {
		t.Helper()
		w, _ := c.eval(widths, table).([]any)
		if len(w) != 3 {
			t.Fatalf("%s: widths %v", where, w)
		}
		page, win, tbl := w[0].(float64), w[1].(float64), w[2].(float64)
		if page > win || tbl > win || tbl == 0 {
			t.Errorf("%s: page %v px, %s %v px wide in a %v px window", where, page, table, tbl, win)
		}
	}
	c.page(endpointRoute("GET /api/long"))
	c.waitFor("the long field", fieldStatus, "body."+key)
	fits("endpoint page", "#fields")
	c.page("/samples?endpoint=" + url.QueryEscape("GET /api/long") + "&path=" + url.QueryEscape("body."+key))
	c.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	fits("samples page", "#side-by-side")
	fits("samples page", "#differences")
}
