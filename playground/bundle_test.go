package playground

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The bundle is built by web/build.sh, which records the checksums of its inputs and
// outputs in web/MANIFEST.sha256 (docs/playground.md). These tests check the committed
// files against that manifest and the lock file, without node.

const webDir = "web"

// readManifest reads sha256sum's output: "hex  path" per line, paths relative to web/.
func readManifest(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webDir, "MANIFEST.sha256"))
	if err != nil {
		t.Fatalf("no manifest: run playground/web/build.sh (%v)", err)
	}
	sums := map[string]string{}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("MANIFEST.sha256: %q is not a sha256sum line", sc.Text())
		}
		sums[m[2]] = m[1]
	}
	return sums
}

// TestBundleManifest fails when the committed bundle, its licences or any input of the
// build (sources, lock file, the scripts) differ from what the last build recorded:
// someone changed src/ or upgraded a package without running web/build.sh, or edited
// the built file by hand.
func TestBundleManifest(t *testing.T) {
	sums := readManifest(t)
	srcs, _ := filepath.Glob(filepath.Join(webDir, "src", "*"))
	var want []string
	for _, p := range srcs {
		want = append(want, filepath.ToSlash(strings.TrimPrefix(p, webDir+string(filepath.Separator))))
	}
	want = append(want, "build.sh", "licenses.mjs", "package.json", "package-lock.json", "../static/app.js", "../static/THIRD_PARTY_LICENSES.txt")
	sort.Strings(want)
	for _, name := range want {
		if _, ok := sums[name]; !ok {
			t.Errorf("MANIFEST.sha256 does not list %s: run playground/web/build.sh", name)
		}
	}
	for name, sum := range sums {
		b, err := os.ReadFile(filepath.Join(webDir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("MANIFEST.sha256 lists %s, which cannot be read: %v", name, err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s differs from the manifest: run playground/web/build.sh and commit what it writes", name)
		}
	}
	// The embedded script is the file the manifest names.
	built, _ := os.ReadFile(filepath.Join("static", "app.js"))
	if !bytes.Equal(loadAssets().files["app.js"], built) {
		t.Error("the embedded app.js is not static/app.js")
	}
}

// TestBundleVersions checks the declared inputs: package.json pins every package to
// one version, the lock file holds exactly those versions with their integrity hashes,
// and the licence file names every package that goes into the bundle.
func TestBundleVersions(t *testing.T) {
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	readJSON(t, filepath.Join(webDir, "package.json"), &pkg)
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version   string `json:"version"`
			Resolved  string `json:"resolved"`
			Integrity string `json:"integrity"`
			Dev       bool   `json:"dev"`
			License   string `json:"license"`
		} `json:"packages"`
	}
	readJSON(t, filepath.Join(webDir, "package-lock.json"), &lock)
	if lock.LockfileVersion < 2 {
		t.Errorf("package-lock.json has lockfileVersion %d; npm ci needs 2 or later", lock.LockfileVersion)
	}
	exact := regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	for _, deps := range []map[string]string{pkg.Dependencies, pkg.DevDependencies} {
		for name, v := range deps {
			if !exact.MatchString(v) {
				t.Errorf("package.json asks for %s %q: pin one exact version", name, v)
			}
			if got := lock.Packages["node_modules/"+name].Version; got != v {
				t.Errorf("package-lock.json has %s %q, package.json %q: run npm install, then build.sh", name, got, v)
			}
		}
	}
	for _, want := range []string{"graphql", "graphql-language-service", "cm6-graphql", "@codemirror/view", "@codemirror/state"} {
		if _, ok := pkg.Dependencies[want]; !ok {
			t.Errorf("package.json does not depend on %s, which the playground is built on", want)
		}
	}
	licences, err := os.ReadFile(filepath.Join("static", "THIRD_PARTY_LICENSES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	bundled := 0
	for path, p := range lock.Packages {
		if path == "" {
			continue
		}
		// npm ci refuses a download whose hash differs from the lock file's.
		if !strings.HasPrefix(p.Integrity, "sha512-") {
			t.Errorf("package-lock.json: %s has integrity %q, want a sha512 hash", path, p.Integrity)
		}
		if p.Resolved != "" && !strings.HasPrefix(p.Resolved, "https://registry.npmjs.org/") {
			t.Errorf("package-lock.json: %s comes from %q, want the npm registry", path, p.Resolved)
		}
		if p.Dev {
			continue
		}
		bundled++
		name := path[strings.LastIndex(path, "node_modules/")+len("node_modules/"):]
		if !bytes.Contains(licences, []byte("\n"+name+"@"+p.Version+" ("+p.License+")\n")) {
			t.Errorf("THIRD_PARTY_LICENSES.txt has no section for %s@%s (%s): run build.sh", name, p.Version, p.License)
		}
	}
	if bundled == 0 {
		t.Error("the lock file has no bundled packages")
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
