package playground

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/idcode"
)

var demoOptions = Options{
	Demo:     true,
	Endpoint: "/graphql",
	Consumers: []Consumer{
		{Name: "ipudong-portal", Description: "citizen micro-portal", Purpose: "citizen-self-service", SelfService: true},
		{Name: "playground", Description: "developers", Purpose: "exploration"},
	},
}

func get(t *testing.T, h http.Handler, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func checkCSP(t *testing.T, path string, res *http.Response) {
	t.Helper()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("%s: Content-Security-Policy %q allows more than the gateway's own origin", path, csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: no X-Content-Type-Options: nosniff", path)
	}
}

var assetRef = regexp.MustCompile(`(?:src|href)="([^"]+)"`)

func TestIndex(t *testing.T) {
	h := Handler(demoOptions)
	res, body := get(t, h, "/")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	checkCSP(t, "/", res)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page has Cache-Control %q, want no-store: its style nonce is new every time", cc)
	}
	// No inline script or style: everything the page runs comes from a file.
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(body) || strings.Contains(body, "<style") || regexp.MustCompile(`\sstyle=|\son[a-z]+=`).MatchString(body) {
		t.Error("the page has inline script, style or event handler attributes; the CSP forbids them")
	}
	refs := assetRef.FindAllStringSubmatch(body, -1)
	if len(refs) < 3 {
		t.Fatalf("the page refers to %d assets, want the stylesheet, the script and the icon", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue
		}
		if !strings.HasPrefix(ref, "/playground/") {
			t.Errorf("the page refers to %q, outside the playground's own assets", ref)
			continue
		}
		res, _ := get(t, h, ref)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", ref, res.StatusCode)
		}
	}
	if !strings.Contains(body, `id="consumer"`) {
		t.Error("the demo page has no consumer picker")
	}
	if !strings.Contains(body, `/THIRD_PARTY_LICENSES.txt"`) {
		t.Error("the page does not link the licences of the libraries it is built with")
	}

	// The style nonce: in the page and its CSP, and new for every page.
	nonce := regexp.MustCompile(`<meta name="style-nonce" content="([A-Za-z0-9_-]{22})">`)
	m := nonce.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the page has no style nonce for the editor")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self' 'nonce-"+m[1]+"';") || strings.Contains(csp, "script-src 'self' 'nonce") {
		t.Errorf("the page's CSP %q does not allow styles with the page's nonce %s only", csp, m[1])
	}
	res2, body2 := get(t, h, "/")
	if m2 := nonce.FindStringSubmatch(body2); m2 == nil || m2[1] == m[1] || !strings.Contains(res2.Header.Get("Content-Security-Policy"), m2[1]) {
		t.Errorf("two pages share the nonce %s: each must get its own", m[1])
	}
	if res.Header.Get("ETag") != "" {
		t.Error("the page has an ETag: a revalidated copy would keep a nonce its new CSP does not allow")
	}
}

func TestProductionPageHasNoPicker(t *testing.T) {
	h := Handler(Options{Endpoint: "/graphql", Consumers: demoOptions.Consumers})
	_, body := get(t, h, "/")
	if strings.Contains(body, `id="consumer"`) || strings.Contains(body, `id="compare"`) {
		t.Error("the production page has the demo consumer picker or the comparison")
	}
	res, body := get(t, h, "/playground/config.json")
	checkCSP(t, "config.json", res)
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Demo || cfg.TokenPath != "" || len(cfg.Consumers) != 0 || cfg.Endpoint != "/graphql" {
		t.Errorf("production config = %+v, want no demo, no token path, no consumers", cfg)
	}
}

func TestDemoConfig(t *testing.T) {
	res, body := get(t, Handler(demoOptions), "/playground/config.json")
	if res.Header.Get("Content-Type") != "application/json; charset=utf-8" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("config.json: %q %q", res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.Demo || cfg.TokenPath != TokenPath || len(cfg.Consumers) != 2 || !cfg.Consumers[0].SelfService || cfg.DefaultCitizen != DefaultCitizen {
		t.Errorf("demo config = %+v", cfg)
	}
}

func TestAssets(t *testing.T) {
	h := Handler(demoOptions)
	a := loadAssets()
	want := map[string]string{
		"app.js":                   "text/javascript; charset=utf-8",
		"style.css":                "text/css; charset=utf-8",
		"favicon.svg":              "image/svg+xml",
		"THIRD_PARTY_LICENSES.txt": "text/plain; charset=utf-8",
	}
	for name, ctype := range want {
		path := "/playground/" + a.version + "/" + name
		res, body := get(t, h, path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, got, ctype)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s: Cache-Control %q, want a year, immutable: the URL changes with the content", name, cc)
		}
		checkCSP(t, name, res)
		if body != string(a.files[name]) {
			t.Errorf("%s: the body is not the embedded file", name)
		}
	}
	// The bundle goes compressed to browsers that take gzip, and as it is to others.
	path := "/playground/" + a.version + "/app.js"
	res, body := get(t, h, path, "Accept-Encoding", "gzip, deflate, br")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("app.js for a browser that takes gzip: Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, a.files["app.js"]) {
		t.Errorf("the gzipped app.js does not unpack to the file (%v)", err)
	}
	if len(body) > len(plain)/2 {
		t.Errorf("gzip leaves app.js at %d of %d bytes", len(body), len(plain))
	}
	for _, ae := range []string{"", "identity", "gzip;q=0, br"} {
		res, body := get(t, h, path, "Accept-Encoding", ae)
		if res.Header.Get("Content-Encoding") != "" || body != string(a.files["app.js"]) || res.Header.Get("ETag") == `"`+a.version+`-gzip"` {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q, ETag %q, want the file as it is", ae, res.Header.Get("Content-Encoding"), res.Header.Get("ETag"))
		}
	}

	// Another build's URL still works, but must not be cached under that name.
	res, _ = get(t, h, "/playground/0123456789ab/app.js")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("an old version's URL = %d %q, want 200 no-cache", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	for _, path := range []string{"/playground/" + a.version + "/nope.js", "/playground/" + a.version + "/index.html", "/playground/nope"} {
		if res, _ := get(t, h, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
		}
	}
}

// bundleTextOnlyURLs are the absolute URLs inside the bundled libraries: each is text
// the page may show or a namespace, never fetched (the browser test watches every
// request). A library upgrade that adds one fails TestAssetsStayLocal until someone has
// looked at what it is for and listed it here.
var bundleTextOnlyURLs = map[string]string{
	"http://www.w3.org/2000/svg":                                "the SVG namespace CodeMirror draws its panel and lint icons in",
	"https://commonmark.org/":                                   "graphql-js: the description of the built-in @deprecated directive's reason",
	"https://en.wikipedia.org/wiki/IEEE_floating_point":         "graphql-js: the message of a Float coercion error",
	"https://yarnpkg.com/en/docs/selective-version-resolutions": "graphql-js: the message of its duplicate-module check",
}

// TestAssetsStayLocal reads every embedded file and the page's sources: the bundle
// imports nothing, the hand-written files refer to no other origin, and the only
// absolute URLs in the bundled libraries are text (bundleTextOnlyURLs).
func TestAssetsStayLocal(t *testing.T) {
	a := loadAssets()
	imports := regexp.MustCompile(`(?m)(?:^|[;}\s])(?:import|export)\s*[^;(]*?from\s*["']([^"']+)["']|\bimport\s*\(|\bimportScripts\s*\(|\bnew\s+(?:Shared)?Worker\s*\(`)
	remote := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"')\s]|@import|url\(`)
	absolute := regexp.MustCompile(`(?i)(?:https?|wss?)://[a-z0-9.-]+[^"'\s)\x60]*`)
	for name, b := range a.files {
		src := string(b)
		switch {
		case name == "app.js":
			if m := imports.FindString(src); m != "" {
				t.Errorf("the bundle loads code at run time (%q): everything must be bundled by web/build.sh", m)
			}
			for _, u := range absolute.FindAllString(src, -1) {
				if _, ok := bundleTextOnlyURLs[u]; !ok {
					t.Errorf("the bundle holds the URL %q: check what the library does with it, and list it in bundleTextOnlyURLs only if it is never fetched", u)
				}
			}
		case strings.HasSuffix(name, ".txt"):
			// Licence texts: read by people, never by the page.
		default:
			// The SVG's XML namespace is a name, not a fetch.
			src = strings.ReplaceAll(src, `xmlns="http://www.w3.org/2000/svg"`, "")
			if m := remote.FindString(src); m != "" {
				t.Errorf("%s refers to %q: every asset must come from the gateway itself", name, m)
			}
		}
	}
	srcs, err := filepath.Glob(filepath.Join("web", "src", "*.js"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no sources in web/src (%v)", err)
	}
	for _, p := range srcs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := remote.FindString(string(b)); m != "" {
			t.Errorf("%s refers to %q: every request must go to the gateway itself", p, m)
		}
	}
	if _, err := fs.Stat(static, "static/index.html"); err != nil {
		t.Fatal(err)
	}
}

// testMinter behaves as the demo mode's minter: known consumers only, and a valid
// citizen ID number for self-service ones.
func testMinter(calls *int) Minter {
	return func(consumer, citizenID string) (string, error) {
		*calls++
		for _, c := range demoOptions.Consumers {
			if c.Name != consumer {
				continue
			}
			if c.SelfService {
				if err := idcode.ValidateIDNumber(citizenID); err != nil {
					return "", err
				}
			}
			return "token-for-" + consumer, nil
		}
		return "", errors.New("unknown consumer " + consumer)
	}
}

func TestDemoTokens(t *testing.T) {
	var calls int
	h := DemoTokens(testMinter(&calls))
	post := func(method, body string) (int, http.Header, map[string]string) {
		req := httptest.NewRequest(method, TokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]string
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, rec.Header(), out
	}

	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		code, hdr, _ := post(m, `{"consumer":"playground"}`)
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" {
			t.Errorf("%s = %d (Allow %q), want 405 with Allow: POST", m, code, hdr.Get("Allow"))
		}
	}
	if calls != 0 {
		t.Errorf("the minter ran %d times for refused methods", calls)
	}

	cases := []struct {
		name, body string
		status     int
	}{
		{"a known consumer", `{"consumer":"playground"}`, http.StatusOK},
		{"self-service with a valid citizen", `{"consumer":"ipudong-portal","citizenId":"310115198503120012"}`, http.StatusOK},
		{"unknown consumer", `{"consumer":"nobody"}`, http.StatusBadRequest},
		{"no consumer", `{}`, http.StatusBadRequest},
		{"self-service without a citizen", `{"consumer":"ipudong-portal"}`, http.StatusBadRequest},
		{"self-service with a bad check digit", `{"consumer":"ipudong-portal","citizenId":"310115198503120013"}`, http.StatusBadRequest},
		{"self-service with a short ID", `{"consumer":"ipudong-portal","citizenId":"3101151985"}`, http.StatusBadRequest},
		{"not JSON", `consumer=playground`, http.StatusBadRequest},
		{"unknown fields", `{"consumer":"playground","roles":["cio"]}`, http.StatusBadRequest},
	}
	for _, c := range cases {
		code, hdr, out := post(http.MethodPost, c.body)
		if code != c.status {
			t.Errorf("%s: %s = %d %v, want %d", c.name, c.body, code, out, c.status)
			continue
		}
		if hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s: headers %v, want JSON and no-store", c.name, hdr)
		}
		if code == http.StatusOK && !strings.HasPrefix(out["token"], "token-for-") {
			t.Errorf("%s: body %v, want the token", c.name, out)
		}
		if code != http.StatusOK && out["error"] == "" {
			t.Errorf("%s: a %d without an error message", c.name, code)
		}
	}
}
