package main

// Hygiene: what the gateway leaves behind. The demo signing key is readable by its owner
// only; and a session full of denials, masks, department failures, bad tokens, bad
// arguments and sharing requests leaves no token, key material, full ID number or phone
// number in the logs (in-process at debug level, and a child process's stdout as an
// operator sees it), nor a denied value in any error message.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// logSecrets are strings no log line may contain: tokens, key material, the fixtures' full
// ID numbers, phone numbers, addresses and the dishonesty record's content.
var logSecrets = []string{
	"eyJ", "PRIVATE KEY",
	dataset.ZhangWei, dataset.LiNa, dataset.WangQiang, dataset.ChenJing, dataset.LiuYang, dataset.Unregistered,
	"13812345678", "13987654321", "13601234567", "13501112233",
	"银城中路", "锦绣路", "崂山路", "拒不履行",
}

// deniedValues are values that some caller of the session below may not see: no error
// message may carry them, whoever the caller.
var deniedValues = []string{
	"13812345678", "13987654321", "13601234567", "13501112233",
	"银城中路", "锦绣路", "崂山路", "1985-03-12", "拒不履行",
}

func TestHygieneDemoKeyFileMode(t *testing.T) {
	g := e2e.Start(t)
	if _, err := auth.LoadOrCreateDemoKey(g.Cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(g.Cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	private := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		path := filepath.Join(g.Cfg.DataDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(data, []byte("PRIVATE KEY")) {
			continue
		}
		private++
		info, _ := os.Stat(path)
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s holds a private key with mode %04o, want 0600", e.Name(), perm)
		}
	}
	if private != 2 {
		t.Errorf("%d files with a private key in the data directory, want exactly 2 (the demo token key and the seal key)", private)
	}
	if info, err := os.Stat(auth.DemoPublicKeyFile(g.Cfg.DataDir)); err != nil || info.Mode().Perm()&0o022 != 0 {
		t.Errorf("the public key file: %v %v", info, err)
	}
	// A key file others can read is refused, not trusted.
	dir := t.TempDir()
	if _, err := auth.LoadOrCreateDemoKey(dir); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	for _, m := range matches {
		if data, _ := os.ReadFile(m); bytes.Contains(data, []byte("PRIVATE KEY")) {
			os.Chmod(m, 0o644)
		}
	}
	if _, err := auth.LoadOrCreateDemoKey(dir); err == nil {
		t.Errorf("a demo key readable by others was accepted")
	}
}

// hygieneSession runs a session with everything that tends to end up in logs, and returns
// every response body.
func hygieneSession(t *testing.T, url string, mint func(consumer, citizen string) string, psbFault, amrFault faultSetter, key any, kid string) [][]byte {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var bodies [][]byte
	post := func(token, query string, vars map[string]any) e2e.Resp {
		t.Helper()
		res, err := e2e.PostFrom(client, url, token, query, vars)
		if err != nil && res.Raw == nil {
			t.Fatalf("%s: %v", query, err)
		}
		bodies = append(bodies, res.Raw)
		return res
	}
	play, hall := mint("playground", ""), mint("online-hall", "")
	psb := mint("psb-console", "")
	citizenQ := `query($id: ID!) { citizen(idNumber: $id) { idNumber name gender birthDate householdAddress phone
		socialInsurance { insuranceType } enterprises { name } creditRecords { content } } }`

	// Denials and masks, for several people.
	for _, id := range []string{dataset.ZhangWei, dataset.LiNa, dataset.WangQiang, dataset.LiuYang, dataset.Unregistered} {
		post(play, citizenQ, map[string]any{"id": id})
		post(hall, citizenQ, map[string]any{"id": id})
	}
	post(play, `{ creditRecords(subject: "310115197811200036") { title content } }`, nil)
	post(mint("ipudong-portal", dataset.LiNa), citizenQ, map[string]any{"id": dataset.ZhangWei})
	// An app that names its operations after the person they read: the names reach the
	// logs, the spans and /metrics only without the identifier.
	post(hall, `query Person`+dataset.ZhangWei+` { citizen(idNumber: "`+dataset.ZhangWei+`") { name } }`, nil)
	post(hall, `query Call13812345678 { me { consumer } }`, nil)

	// Bad arguments, including ones shaped like personal data.
	for _, q := range []string{
		`{ citizen(idNumber: "310115198503120013") { name } }`,
		`{ citizen(idNumber: "13812345678") { name } }`,
		`{ creditRecords(subject: "' OR '1'='1") { content } }`,
		`{ enterprise(creditCode: "../../v1/enterprises?legalRepId=310115198503120012") { name } }`,
		`{ enterprises(legalRepresentative: "310115198503120013") { totalCount } }`,
		`{ citizen(idNumber: "310115198503120012") { nosuchfield } }`,
	} {
		post(hall, q, nil)
	}

	// Bad tokens: forged, expired, tampered, none, garbage.
	for _, tok := range hygieneBadTokens(hall, key, kid) {
		post(tok, `{ citizen(idNumber: "310115198503120012") { phone } }`, nil)
	}

	// Paths a client made up, holding ID numbers: answered 404 (or 401), logged by route.
	for _, path := range []string{"/citizen/" + dataset.ZhangWei, "/graphql/" + dataset.LiNa, "/debug/pprof/" + dataset.WangQiang,
		"/playground/" + dataset.ChenJing, "/healthz/" + dataset.LiuYang} {
		res, err := client.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		bodies = append(bodies, b)
	}

	// Department failures of every kind, on records not cached yet.
	persons := []string{dataset.ChenJing, dataset.WangQiang, dataset.LiNa, dataset.ZhangWei}
	for i, mode := range []simhttp.Fault{
		{Mode: simhttp.ModeDown}, {Mode: simhttp.ModeGarbage}, {Mode: simhttp.ModeError}, {Mode: simhttp.ModeSlow, Latency: "1s"},
	} {
		psbFault.SetFault(mode)
		amrFault.SetFault(mode)
		post(psb, `mutation { purgeCache(department: "psb") }`, nil)
		post(mint("amr-console", ""), `mutation { purgeCache(department: "amr") }`, nil)
		post(hall, citizenQ, map[string]any{"id": persons[i]})
		post(hall, `query($id: ID!) { enterprises(legalRepresentative: $id) { edges { node { name legalRepresentative { name phone } } } } }`,
			map[string]any{"id": persons[i]})
		post(mint("supervision-platform", ""), `{ enterprise(creditCode: "91310115607223817N") { name legalRepresentative { name householdAddress } insuredEmployees } }`, nil)
	}
	psbFault.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})
	amrFault.SetFault(simhttp.Fault{Mode: simhttp.ModeOK})

	// Sharing: a request, a decision, the field opened, the grant revoked; the owner's audit.
	hygieneSharing(t, post, play, hall, psb, citizenQ)
	return bodies
}

// hygieneBadTokens are tokens the gateway refuses: expired, tampered, unsigned,
// garbage, a valid one with a byte more, and one far too large.
func hygieneBadTokens(hall string, key any, kid string) []string {
	now := time.Now()
	claims := jwt.MapClaims{"iss": auth.DemoIssuer, "aud": auth.DemoAudience, "sub": "x", "consumer": "psb-console",
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
	expired := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	expired.Header["kid"] = kid
	expiredTok, _ := expired.SignedString(key)
	hallParts := strings.Split(hall, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(hallParts[1])
	payload = bytes.Replace(payload, []byte("online-hall"), []byte("psb-console"), 1)
	tampered := hallParts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + hallParts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + hallParts[1] + "."
	return []string{expiredTok, tampered, none, "eyJnotatoken", hall + "x", strings.Repeat("eyJ", 3000)}
}

// hygieneSharing runs the sharing loop through post: a request, a decision, the
// field opened, the grant revoked; a refused request; the owner's audit.
func hygieneSharing(t *testing.T, post func(token, query string, vars map[string]any) e2e.Resp, play, hall, psb, citizenQ string) {
	t.Helper()
	r := post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-003"], justification: "hygiene"}) { id } }`, nil)
	if id := r.Str("requestSharing.0.id"); id != "" {
		d := post(psb, `mutation($id: ID!) { decideSharingRequest(id: $id, approve: true, reason: "ok") { status grant { id } } }`, map[string]any{"id": id})
		post(play, citizenQ, map[string]any{"id": dataset.ZhangWei})
		if gid := d.Str("decideSharingRequest.grant.id"); gid != "" {
			post(psb, `mutation($id: ID!) { revokeGrant(id: $id) { id active } }`, map[string]any{"id": gid})
		}
	} else {
		t.Errorf("requestSharing: %s", r.Raw)
	}
	post(play, `mutation { requestSharing(input: {codes: ["310115-PSB-RK01-007"], justification: "13812345678"}) { id } }`, nil)
	post(psb, `{ auditEvents(first: 5) { edges { node { code subject decision } } } }`, nil)
	post(hall, `{ auditEvents(first: 5) { edges { node { code subject } } } }`, nil)
}

// assertErrorsEchoNoDeniedValue checks the messages (and extensions) of every error.
func assertErrorsEchoNoDeniedValue(t *testing.T, bodies [][]byte) {
	t.Helper()
	for _, b := range bodies {
		var resp struct {
			Errors []json.RawMessage `json:"errors"`
		}
		if json.Unmarshal(b, &resp) != nil {
			continue
		}
		for _, e := range resp.Errors {
			for _, v := range deniedValues {
				if bytes.Contains(e, []byte(v)) {
					t.Errorf("an error echoes %q: %s", v, e)
				}
			}
		}
	}
}

func assertLogsClean(t *testing.T, where, logs string) {
	t.Helper()
	for _, s := range logSecrets {
		if i := strings.Index(logs, s); i >= 0 {
			start := strings.LastIndexByte(logs[:i], '\n') + 1
			end := strings.IndexByte(logs[i:], '\n')
			if end < 0 {
				end = len(logs) - i
			}
			t.Errorf("%s contains %q: %s", where, s, logs[start:i+end])
		}
	}
}

func TestHygieneLogsAndErrors(t *testing.T) {
	g := e2e.Start(t, func(c *config.Config) {
		for i := range c.Departments {
			if d := &c.Departments[i]; d.ID == "psb" || d.ID == "amr" {
				d.Timeout = 300 * time.Millisecond
				d.BreakerFailures = 1000 // every fault below reaches the simulator
			}
		}
	})
	key, err := auth.LoadOrCreateDemoKey(g.Cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := auth.KeyID(key.Public())
	mint := func(consumer, citizen string) string {
		if citizen != "" {
			return g.Token(consumer, citizen)
		}
		return g.Token(consumer)
	}
	bodies := hygieneSession(t, g.Srv.URL, mint, g.Sims.PSB, g.Sims.AMR, key, kid)
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		res, err := http.Get(g.Srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assertLogsClean(t, path, string(b))
	}
	logs := g.Logs.String()
	if !strings.Contains(logs, "authentication refused") || !strings.Contains(logs, "department call timed out") {
		t.Fatalf("the session did not produce the logs it is meant to check:\n%.2000s", logs)
	}
	assertLogsClean(t, "the gateway's log (debug level)", logs)
	assertErrorsEchoNoDeniedValue(t, bodies)
	t.Logf("%d responses and %d log bytes checked", len(bodies), len(logs))
}

// TestHygieneChildProcessStdout runs the demo gateway as an operator does, as a separate
// process logging to stdout, drives the same session through it, stops it with SIGTERM and
// checks everything it printed.
func TestHygieneChildProcessStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	out := &e2e.SyncBuffer{}
	url, stop := startCapturedChild(t, out, "--addr", "127.0.0.1:0", "--data", dir,
		"--sim-citizens", "200", "--sim-enterprises", "100", "--sim-credit-records", "200")
	key, err := auth.LoadOrCreateDemoKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := auth.KeyID(key.Public())
	cfg, err := config.Demo(dir)
	if err != nil {
		t.Fatal(err)
	}
	mint := app.DemoMinter(cfg)
	tok := func(consumer, citizen string) string {
		s, err := mint(consumer, citizen)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The simulators run inside the child: faults go through their HTTP control endpoints.
	addrs := simAddrs(out.String())
	psbCtl, amrCtl := &remoteFault{url: addrs["psb"]}, &remoteFault{url: addrs["amr"]}
	if psbCtl.url == "" || amrCtl.url == "" {
		t.Fatalf("simulator addresses not found in the child's output:\n%s", out.String())
	}
	bodies := hygieneSession(t, url, tok, psbCtl, amrCtl, key, kid)
	stop()
	assertErrorsEchoNoDeniedValue(t, bodies)
	logs := out.String()
	if !strings.Contains(logs, "authentication refused") {
		t.Fatalf("the child's output lacks the session's logs:\n%.2000s", logs)
	}
	assertLogsClean(t, "the child's stdout", logs)
}

// faultSetter is a simulator's fault control, in-process or over HTTP.
type faultSetter interface{ SetFault(simhttp.Fault) error }

// remoteFault sets a simulator's fault through POST /_sim/fault.
type remoteFault struct{ url string }

func (r *remoteFault) SetFault(f simhttp.Fault) error {
	b, _ := json.Marshal(f)
	res, err := http.Post(strings.TrimSuffix(r.url, "/PopulationService")+"/_sim/fault", "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// simAddrs parses "department simulator started" lines.
func simAddrs(out string) map[string]string {
	addrs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "department simulator started") {
			continue
		}
		var dept, addr string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "department="); ok {
				dept = v
			}
			if v, ok := strings.CutPrefix(f, "addr="); ok {
				addr = v
			}
		}
		if dept != "" {
			addrs[dept] = addr
		}
	}
	return addrs
}

// startCapturedChild is startChild keeping everything the child prints in out.
// stop sends SIGTERM and waits for the child to exit, so its shutdown logs are in out too.
func startCapturedChild(t *testing.T, out *e2e.SyncBuffer, args ...string) (url string, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CHILD=1", "GATEWAY_TEST_ARGS="+strings.Join(args, "\x1f"))
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	addr := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(out, pipe)
	}()
	go func() { <-copied; done <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		return "http://" + a, stop
	case err := <-done:
		once.Do(func() {})
		t.Fatalf("the gateway exited before listening: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not start within a minute")
	}
	return "", stop
}
