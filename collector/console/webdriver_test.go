package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/freeport"
)

// A minimal W3C WebDriver client over net/http, driving Debian's chromium
// through chromedriver. It has just what the browser tests need.

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// browserPaths are Debian's chromium and chromedriver, or the binaries
// SHADOWDIFF_CHROMIUM and SHADOWDIFF_CHROMEDRIVER name.
func browserPaths() (chromium, chromedriver string) {
	chromium, chromedriver = os.Getenv("SHADOWDIFF_CHROMIUM"), os.Getenv("SHADOWDIFF_CHROMEDRIVER")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if chromedriver == "" {
		chromedriver = "/usr/bin/chromedriver"
	}
	return chromium, chromedriver
}

type browser struct {
	t       testing.TB
	base    string // chromedriver URL + /session/<id>
	client  *http.Client
	timeout time.Duration
}

// requireBrowser skips when chromium or chromedriver is absent, unless
// SHADOWDIFF_REQUIRE_BROWSER=1 (make browser): then the test fails.
func requireBrowser(t *testing.T) {
	t.Helper()
	chromium, chromedriver := browserPaths()
	_, errC := os.Stat(chromium)
	_, errD := os.Stat(chromedriver)
	if errC == nil && errD == nil {
		return
	}
	msg := fmt.Sprintf("browser tests need %s and %s (run `make browser-deps`)", chromium, chromedriver)
	if required, _ := strconv.ParseBool(os.Getenv("SHADOWDIFF_REQUIRE_BROWSER")); required {
		t.Fatal(msg + "; SHADOWDIFF_REQUIRE_BROWSER=1")
	}
	t.Skip("skipping: " + msg)
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

// startBrowser runs chromedriver and opens a headless session at laptop size.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireBrowser(t)
	chromium, chromedriver := browserPaths()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chromedriver, "--port="+strconv.Itoa(port))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", logs.String())
		}
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	b := &browser{t: t, client: &http.Client{Timeout: 60 * time.Second}, timeout: 15 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := b.client.Get(url + "/status")
		if err == nil {
			var st struct {
				Value struct{ Ready bool } `json:"value"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Value.Ready {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready on %s: %v\n%s", url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--window-size=1440,900", "--no-first-run", "--no-default-browser-check", "--lang=en-US"},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	b.base = url
	b.do("POST", "/session", caps, &sess)
	if sess.SessionID == "" {
		t.Fatal("chromedriver returned no session id")
	}
	b.base = url + "/session/" + sess.SessionID
	t.Cleanup(func() { b.doErr("DELETE", "", nil, nil) })
	return b
}

// do runs one WebDriver command and fails the test on error.
func (b *browser) do(method, path string, body, out any) {
	b.t.Helper()
	if err := b.doErr(method, path, body, out); err != nil {
		b.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
}

type wdError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (b *browser) doErr(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Value wdError `json:"value"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s: %s: %s", resp.Status, e.Value.Error, e.Value.Message)
	}
	if out == nil {
		return nil
	}
	if path == "/session" && method == "POST" {
		var s struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		return json.Unmarshal(s.Value, out)
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	return json.Unmarshal(v.Value, out)
}

func (b *browser) open(url string) {
	b.t.Helper()
	b.do("POST", "/url", map[string]string{"url": url}, nil)
}

// eval runs a script (its body is a function body; use `return`).
func (b *browser) eval(script string, args ...any) any {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	var out any
	b.do("POST", "/execute/sync", map[string]any{"script": script, "args": args}, &out)
	return out
}

// waitFor polls a script until it returns a truthy value; it fails with the
// description when the page never gets there.
func (b *browser) waitFor(what, script string, args ...any) any {
	b.t.Helper()
	deadline := time.Now().Add(b.timeout)
	for {
		v := b.eval(script, args...)
		switch x := v.(type) {
		case nil:
		case bool:
			if x {
				return v
			}
		case string:
			if x != "" {
				return v
			}
		case float64:
			if x != 0 {
				return v
			}
		default:
			return v
		}
		if time.Now().After(deadline) {
			page := b.eval(`return location.href + " (" + document.readyState + ", focus on " + (document.activeElement && document.activeElement.id) + ")\n" + document.body.innerText.slice(0, 3000)`)
			b.t.Fatalf("timed out waiting for %s; last value %v; page %v", what, v, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) find(css string) string {
	b.t.Helper()
	var el map[string]string
	deadline := time.Now().Add(b.timeout)
	for {
		err := b.doErr("POST", "/element", map[string]string{"using": "css selector", "value": css}, &el)
		if err == nil {
			return el[elementKey]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("element %q not found: %v", css, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks like a user does (WebDriver scrolls it into view and fails
// if something covers it).
func (b *browser) click(css string) {
	b.t.Helper()
	b.do("POST", "/element/"+b.find(css)+"/click", map[string]any{}, nil)
}

// keys sends key presses to the focused element via the actions API.
func (b *browser) keys(keys ...string) {
	b.t.Helper()
	var acts []map[string]string
	for _, k := range keys {
		acts = append(acts, map[string]string{"type": "keyDown", "value": k}, map[string]string{"type": "keyUp", "value": k})
	}
	b.do("POST", "/actions", map[string]any{"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": acts}}}, nil)
}

func (b *browser) screenshot(path string) {
	b.t.Helper()
	var data string
	b.do("GET", "/screenshot", nil, &data)
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatalf("decode screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}
