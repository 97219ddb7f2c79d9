// Package playground serves the gateway's offline playground: an editor, docs explorer
// and result view that marks every governed field as allowed, masked or denied. Every
// asset is inside the binary; nothing is loaded from the network, and the
// Content-Security-Policy makes the browser refuse anything that would be.
//
// The page's script, static/app.js, is built from web/src with graphql-js,
// graphql-language-service, cm6-graphql and CodeMirror 6 by web/build.sh and committed
// with its licences, so building and testing the gateway needs no node; see
// docs/playground.md.
package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
)

// Consumer is one demo consumer offered by the playground's picker.
type Consumer struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Purpose     string `json:"purpose"`
	SelfService bool   `json:"selfService"`
}

// Options configure the playground page.
type Options struct {
	// Demo enables the consumer picker, which mints tokens through the demo-only
	// endpoint; in production the developer pastes a token.
	Demo      bool
	Consumers []Consumer
	// Endpoint is the GraphQL path, normally /graphql.
	Endpoint string
}

// ContentSecurityPolicy is sent with every playground response: the page may load
// scripts, styles, images and data from the gateway's own origin only, runs no inline
// script, and cannot be framed. The page itself gets PageContentSecurityPolicy.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// PageContentSecurityPolicy is ContentSecurityPolicy for the page, where the editor may
// also add <style> elements carrying nonce: CodeMirror writes its styles into one
// (docs/playground.md). Scripts stay limited to the gateway's own files.
func PageContentSecurityPolicy(nonce string) string {
	return strings.Replace(ContentSecurityPolicy, "style-src 'self'", "style-src 'self' 'nonce-"+nonce+"'", 1)
}

// newNonce is a fresh CSP nonce: 128 random bits in URL-safe base64, which CSP allows
// and html/template writes into the page unescaped.
func newNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenPath is where the demo mode serves DemoTokens; the page posts to it.
const TokenPath = "/demo/token"

//go:embed static
var static embed.FS

// assets are the embedded files by name, with their content type and a version hash
// of them all: the page refers to /playground/{version}/name, so browsers may cache
// those URLs forever and still see a new build at once.
type assets struct {
	files map[string][]byte
	// gzipped holds the files that gzip makes much smaller (the script bundle is a third
	// of its size), compressed once at start-up.
	gzipped map[string][]byte
	version string
}

func loadAssets() assets {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	a := assets{files: map[string][]byte{}, gzipped: map[string][]byte{}}
	var names []string
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := fs.ReadFile(sub, n)
		a.files[n] = b
		h.Write([]byte(n))
		h.Write(b)
		if z := compress(b); len(z) < len(b)*3/4 {
			a.gzipped[n] = z
		}
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:12]
	return a
}

func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(q, " ", "") != "q=0"
		}
	}
	return false
}

// contentType is by extension, fixed here rather than taken from the host's mime
// tables, so a module script is never served with a type the browser refuses.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// pageConfig is what the page learns about the server, from /playground/config.json.
type pageConfig struct {
	Demo      bool       `json:"demo"`
	Endpoint  string     `json:"endpoint"`
	TokenPath string     `json:"tokenPath,omitempty"`
	Consumers []Consumer `json:"consumers"`
	// DefaultCitizen is the ID number offered for self-service consumers.
	DefaultCitizen string `json:"defaultCitizen,omitempty"`
}

// DefaultCitizen is the demo fixture citizen the picker offers to self-service consumers.
const DefaultCitizen = "310115198503120012"

// Handler serves the playground page at / and its assets under /playground/.
func Handler(o Options) http.Handler {
	if o.Endpoint == "" {
		o.Endpoint = "/graphql"
	}
	a := loadAssets()
	cfg := pageConfig{Demo: o.Demo, Endpoint: o.Endpoint, Consumers: []Consumer{}}
	if o.Demo {
		cfg.TokenPath = TokenPath
		cfg.Consumers = append(cfg.Consumers, o.Consumers...)
		cfg.DefaultCitizen = DefaultCitizen
	}
	cfgJSON, _ := json.Marshal(cfg)

	page := template.Must(template.New("index").Parse(string(a.files["index.html"])))
	base := "/playground/" + a.version + "/"
	if err := page.Execute(io.Discard, map[string]any{"Base": base, "Demo": o.Demo, "Nonce": "x"}); err != nil {
		panic(err) // the template is embedded and tested
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// Each page gets its own style nonce, in the CSP header and in the page; so the
		// page is never stored: a cached copy would carry a nonce its CSP no longer has.
		// It is small, and it names the versioned assets, which are cached.
		nonce := newNonce()
		var buf bytes.Buffer
		page.Execute(&buf, map[string]any{"Base": base, "Demo": o.Demo, "Nonce": nonce})
		secure(w)
		w.Header().Set("Content-Security-Policy", PageContentSecurityPolicy(nonce))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", contentType("index.html"))
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /playground/config.json", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", contentType("config.json"))
		w.Write(cfgJSON)
	})
	mux.HandleFunc("GET /playground/{version}/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		b, ok := a.files[name]
		if !ok || name == "index.html" {
			secure(w)
			http.NotFound(w, r)
			return
		}
		secure(w)
		if r.PathValue("version") == a.version {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// A page from another build (another replica, or before a deploy): serve
			// what we have, but let nobody keep it under that version's name.
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("Content-Type", contentType(name))
		z, ok := a.gzipped[name]
		if !ok {
			w.Header().Set("ETag", `"`+a.version+`"`)
			w.Write(b)
			return
		}
		w.Header().Set("Vary", "Accept-Encoding")
		if !acceptsGzip(r) {
			w.Header().Set("ETag", `"`+a.version+`"`)
			w.Write(b)
			return
		}
		w.Header().Set("ETag", `"`+a.version+`-gzip"`)
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(z)
	})
	mux.HandleFunc("GET /playground/", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		if r.URL.Path == "/playground/" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

// secure sets the headers every playground response carries.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// Minter mints a demo token for a consumer (and, for self-service consumers, a citizen).
// It returns an error for an unknown consumer or a self-service consumer without a
// valid citizen ID number; DemoTokens answers those with 400.
type Minter func(consumer, citizenID string) (string, error)

// DemoTokens serves POST /demo/token {"consumer": "...", "citizenId": "..."} → {"token": "..."}:
// the demo mode's token endpoint. It does not exist in production mode.
func DemoTokens(mint Minter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeJSONError(w, http.StatusMethodNotAllowed, "POST a JSON object {consumer, citizenId}")
			return
		}
		var req struct {
			Consumer  string `json:"consumer"`
			CitizenID string `json:"citizenId"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSONError(w, http.StatusBadRequest, "the body must be a JSON object {consumer, citizenId}: "+err.Error())
			return
		}
		if strings.TrimSpace(req.Consumer) == "" {
			writeJSONError(w, http.StatusBadRequest, "name the consumer to mint a token for")
			return
		}
		tok, err := mint(req.Consumer, strings.TrimSpace(req.CitizenID))
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
