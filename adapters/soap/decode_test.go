package soap

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/psb"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

var personShape = shape{result: "Person", errorCode: "ErrorCode"}

const personDoc = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<soap:Header><Trace xmlns="urn:t"><XM>not a record</XM></Trace></soap:Header>` +
	`<soap:Body><r:QueryPersonResponse xmlns:r="urn:r"><r:Person><r:SFZH>310115198503120012</r:SFZH>` +
	`<r:XM>张伟</r:XM><r:HJDZ>银城中路&lt;168&gt;弄<!-- c --><![CDATA[3号]]></r:HJDZ><r:LXDH/>` +
	`<r:Extra><r:Nested>x</r:Nested></r:Extra></r:Person></r:QueryPersonResponse></soap:Body></soap:Envelope>`

func encode(t testing.TB, enc encoding.Encoding, label, doc string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	prolog := ""
	if label != "" {
		prolog = `<?xml version="1.0" encoding="` + label + `"?>` + "\n"
	}
	return append([]byte(prolog), b...)
}

func TestDecodeCharsets(t *testing.T) {
	want := []map[string]string{{"SFZH": "310115198503120012", "XM": "张伟", "HJDZ": "银城中路<168>弄3号", "LXDH": "", "Extra": ""}}
	for _, tc := range []struct {
		label string
		enc   encoding.Encoding
		ok    bool
	}{
		{"", encoding.Nop, true},
		{"UTF-8", encoding.Nop, true},
		{"GBK", simplifiedchinese.GBK, true},
		{"gb2312", simplifiedchinese.GBK, true},
		{"GB18030", simplifiedchinese.GB18030, true},
		{"Shift_JIS", simplifiedchinese.GBK, false},
		{"ISO-8859-1", encoding.Nop, false},
	} {
		t.Run(tc.label, func(t *testing.T) {
			a, err := decode(encode(t, tc.enc, tc.label, personDoc), personShape)
			if !tc.ok {
				if err == nil {
					t.Errorf("charset %q accepted", tc.label)
				}
				return
			}
			if err != nil || a.fault != nil || !reflect.DeepEqual(a.records, want) {
				t.Errorf("decode = %+v, %v; want %v", a, err, want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	env := func(body string) string {
		return `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>` + body + `</e:Body></e:Envelope>`
	}
	for _, tc := range []struct {
		name    string
		doc     string
		records int
		fault   *Fault
		bad     bool
	}{
		{"two records", env(`<R><Person><XM>a</XM></Person><Person><XM>b</XM></Person></R>`), 2, nil, false},
		{"empty answer", env(`<R/>`), 0, nil, false},
		{"fault", env(`<e:Fault><faultcode>e:Client.Lookup</faultcode><faultstring>查无此人 310115198503120012</faultstring>` +
			`<detail><x:ErrorCode xmlns:x="urn:x">PERSON_NOT_FOUND</x:ErrorCode></detail></e:Fault>`), 0,
			&Fault{Code: "e:Client.Lookup", String: "查无此人 ***", ErrorCode: "PERSON_NOT_FOUND"}, false},
		{"fault without detail", env(`<e:Fault><faultcode>e:Server</faultcode><faultstring>down</faultstring></e:Fault>`), 0,
			&Fault{Code: "e:Server", String: "down"}, false},
		{"truncated after the record", strings.TrimSuffix(env(`<R><Person><XM>a</XM></Person></R>`), `</e:Envelope>`), 0, nil, true},
		{"SOAP 1.2", `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`, 0, nil, true},
		{"no body", `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>`, 0, nil, true},
		{"empty", ``, 0, nil, true},
		{"HTML error page", `<html><body>502 Bad Gateway</body></html>`, 0, nil, true},
		{"mismatched tags", env(`<R><Person><XM>a</Person></XM></R>`), 0, nil, true},
		{"undeclared entity", env(`<R><Person><XM>&xxe;</XM></Person></R>`), 0, nil, true},
		{"invalid UTF-8", env("<R><Person><XM>\xff</XM></Person></R>"), 0, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := decode([]byte(tc.doc), personShape)
			if tc.bad {
				if err == nil {
					t.Errorf("decode accepted %q: %+v", tc.doc, a)
				}
				return
			}
			if err != nil || len(a.records) != tc.records || !reflect.DeepEqual(a.fault, tc.fault) {
				t.Errorf("decode = %+v (fault %+v), %v", a, a.fault, err)
			}
		})
	}
}

func TestDecodeRefusesBytesOutsideTheCharset(t *testing.T) {
	doc := append([]byte(`<?xml version="1.0" encoding="GBK"?><s:Envelope xmlns:s="`+envelopeNS+`"><s:Body><Person><XM>`),
		0x81, 0x20, 0xff)
	doc = append(doc, `</XM></Person></s:Body></s:Envelope>`...)
	if a, err := decode(doc, personShape); err == nil {
		t.Errorf("decoded %+v from bytes that are not GBK", a)
	}
}

func TestFaultClient(t *testing.T) {
	for code, client := range map[string]bool{
		"soap:Client": true, "Client": true, "env:Client.Auth": true,
		"soap:Server": false, "soap:ClientX": false, "": false,
	} {
		if got := (&Fault{Code: code}).Client(); got != client {
			t.Errorf("Fault{%q}.Client() = %v", code, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"身份证号310115198503120012不存在": "身份证号***不存在",
		"31011519850312001X":        "***",
		"电话 13812345678":            "电话 ***",
		"错误 404，重试 3 次":             "错误 404，重试 3 次",
		strings.Repeat("错", 300):    strings.Repeat("错", maxFaultText) + "…",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// simulatorAnswers collects the registry's real answers: a person, a person without a
// phone, not found, a server fault and garbage.
func simulatorAnswers(t testing.TB) [][]byte {
	t.Helper()
	ctl := simhttp.NewControl()
	h := psb.NewHandler(dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 10}), ctl)
	ask := func(id string) []byte {
		req := httptest.NewRequest(http.MethodPost, psb.Path, bytes.NewReader((&operation{
			namespace: psb.Namespace, element: "QueryPerson", keyElement: "SFZH"}).envelope(id)))
		req.Header.Set("SOAPAction", psb.ActionQueryPerson)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		return b
	}
	out := [][]byte{ask(dataset.ZhangWei), ask(dataset.ChenJing), ask(dataset.Unregistered)}
	for _, mode := range []string{simhttp.ModeError, simhttp.ModeGarbage} {
		if err := ctl.SetFault(simhttp.Fault{Mode: mode}); err != nil {
			t.Fatal(err)
		}
		out = append(out, ask(dataset.ZhangWei))
	}
	return out
}

func BenchmarkDecodePerson(b *testing.B) {
	doc := simulatorAnswers(b)[0]
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := decode(doc, personShape)
		if err != nil || len(a.records) != 1 {
			b.Fatal(a, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, doc := range simulatorAnswers(f) {
		f.Add(doc)
	}
	f.Add([]byte(personDoc))
	f.Fuzz(func(t *testing.T, doc []byte) {
		a, err := decode(doc, personShape)
		if err != nil {
			if a.records != nil || a.fault != nil {
				t.Errorf("decode failed (%v) yet returned %+v", err, a)
			}
			return
		}
		if a.fault != nil && a.records != nil {
			t.Errorf("both a fault and records: %+v", a)
		}
		if a.fault != nil && (len([]rune(a.fault.String)) > maxFaultText+1) {
			t.Errorf("fault string %q not bounded", a.fault.String)
		}
	})
}
