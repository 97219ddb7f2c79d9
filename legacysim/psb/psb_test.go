package psb

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

func newServer(t *testing.T) (*httptest.Server, *simhttp.Control, *dataset.Dataset) {
	t.Helper()
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 200})
	ctl := simhttp.NewControl()
	srv := httptest.NewServer(NewHandler(ds, ctl))
	t.Cleanup(srv.Close)
	return srv, ctl, ds
}

// answer is what a test reads back from the registry, decoded independently of the
// gateway's adapter.
type answer struct {
	Body struct {
		Person *struct {
			SFZH, XM, XB, CSRQ, MZ, HJDZ string
			LXDH                         *string
		} `xml:"QueryPersonResponse>Person"`
		Fault *struct {
			Code      string `xml:"faultcode"`
			String    string `xml:"faultstring"`
			ErrorCode string `xml:"detail>ErrorCode"`
		} `xml:"Fault"`
	} `xml:"Body"`
}

func query(t *testing.T, url, action, body string) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+Path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if action != "-" {
		req.Header.Set("SOAPAction", action)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=GBK" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !bytes.HasPrefix(raw, []byte(`<?xml version="1.0" encoding="GBK"?>`)) {
		t.Errorf("answer does not declare GBK: %.60q", raw)
	}
	var a answer
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		return simplifiedchinese.GBK.NewDecoder().Reader(in), nil
	}
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("answer is not XML: %v", err)
	}
	return resp.StatusCode, a
}

func envelope(inner string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` +
		inner + `</s:Body></s:Envelope>`
}

func queryPerson(id string) string {
	return envelope(`<QueryPerson xmlns="` + Namespace + `"><SFZH>` + id + `</SFZH></QueryPerson>`)
}

func TestQueryPersonAnswersInGBK(t *testing.T) {
	srv, _, ds := newServer(t)
	var minority *dataset.Person
	for p := range ds.AllPersons() {
		if p.Ethnicity != "01" {
			minority = &p
			break
		}
	}
	for _, p := range []dataset.Person{ds.Person(0), ds.Person(3), *minority} {
		status, a := query(t, srv.URL, `"`+ActionQueryPerson+`"`, queryPerson(p.IDNumber))
		got := a.Body.Person
		if status != http.StatusOK || got == nil {
			t.Fatalf("%s: status %d, answer %+v", p.Name, status, a.Body)
		}
		phone := ""
		if got.LXDH != nil {
			phone = *got.LXDH
		}
		if got.SFZH != p.IDNumber || got.XM != p.Name || got.XB != p.Gender || got.CSRQ != p.BirthDate ||
			got.MZ != p.Ethnicity || got.HJDZ != p.Address || phone != p.Phone {
			t.Errorf("got %+v (phone %q), want %+v", got, phone, p)
		}
	}
}

func TestFaults(t *testing.T) {
	srv, ctl, _ := newServer(t)
	action := `"` + ActionQueryPerson + `"`
	for _, tc := range []struct {
		name, action, body string
		code, errorCode    string
	}{
		{"not found", action, queryPerson(dataset.Unregistered), "soap:Client", CodeNotFound},
		{"malformed envelope", action, envelope(`<QueryPerson xmlns="` + Namespace + `"><SFZH>1`), "soap:Client", CodeBadRequest},
		{"missing SFZH", action, envelope(`<QueryPerson xmlns="` + Namespace + `"/>`), "soap:Client", CodeBadRequest},
		{"two IDs", action, envelope(`<QueryPerson xmlns="` + Namespace + `"><SFZH>` + dataset.ZhangWei +
			`</SFZH><SFZH>` + dataset.LiNa + `</SFZH></QueryPerson>`), "soap:Client", CodeBadRequest},
		{"unqualified SFZH", action, envelope(`<q:QueryPerson xmlns:q="` + Namespace + `"><SFZH>` + dataset.ZhangWei +
			`</SFZH></q:QueryPerson>`), "soap:Client", CodeBadRequest},
		{"wrong body element", action, envelope(`<QueryEnterprise xmlns="` + Namespace + `"/>`), "soap:Client", CodeBadRequest},
		{"SOAP 1.2 envelope", action, `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`, "soap:Client", CodeBadRequest},
		{"wrong SOAPAction", `"` + Namespace + `/DeletePerson"`, queryPerson(dataset.ZhangWei), "soap:Client", CodeUnknownAction},
		{"no SOAPAction", "-", queryPerson(dataset.ZhangWei), "soap:Client", CodeUnknownAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, a := query(t, srv.URL, tc.action, tc.body)
			f := a.Body.Fault
			if status != http.StatusInternalServerError || f == nil {
				t.Fatalf("status %d, answer %+v: want a fault with HTTP 500", status, a.Body)
			}
			if f.Code != tc.code || f.ErrorCode != tc.errorCode || f.String == "" {
				t.Errorf("fault %+v, want %s %s", f, tc.code, tc.errorCode)
			}
			if strings.ContainsAny(f.String, "0123456789") {
				t.Errorf("faultstring %q echoes digits of the request", f.String)
			}
		})
	}

	if err := ctl.SetFault(simhttp.Fault{Mode: simhttp.ModeError}); err != nil {
		t.Fatal(err)
	}
	status, a := query(t, srv.URL, action, queryPerson(dataset.ZhangWei))
	if f := a.Body.Fault; status != http.StatusInternalServerError || f == nil || f.Code != "soap:Server" || f.ErrorCode != CodeSystemError {
		t.Errorf("injected error: status %d, answer %+v", status, a.Body)
	}
}

func TestGarbageIsNotXML(t *testing.T) {
	srv, ctl, _ := newServer(t)
	if err := ctl.SetFault(simhttp.Fault{Mode: simhttp.ModeGarbage}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, strings.NewReader(queryPerson(dataset.ZhangWei)))
	req.Header.Set("SOAPAction", ActionQueryPerson)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.CharsetReader = func(string, io.Reader) (io.Reader, error) { return bytes.NewReader(nil), nil }
	var v struct{}
	if dec.Decode(&v) == nil {
		t.Errorf("garbage %q decodes as XML", raw)
	}
}

// wsdl is the part of a WSDL 1.1 document a client generator relies on.
type wsdl struct {
	XMLName         xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	TargetNamespace string   `xml:"targetNamespace,attr"`
	Schema          struct {
		TargetNamespace string `xml:"targetNamespace,attr"`
		Elements        []struct {
			Name string `xml:"name,attr"`
		} `xml:"http://www.w3.org/2001/XMLSchema element"`
	} `xml:"types>schema"`
	Messages []struct {
		Name string `xml:"name,attr"`
	} `xml:"message"`
	PortType struct {
		Operations []struct {
			Name string `xml:"name,attr"`
		} `xml:"operation"`
	} `xml:"portType"`
	Binding struct {
		SOAP struct {
			Style     string `xml:"style,attr"`
			Transport string `xml:"transport,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ binding"`
		Operations []struct {
			Name string `xml:"name,attr"`
			SOAP struct {
				Action string `xml:"soapAction,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
	} `xml:"binding"`
	Address struct {
		Location string `xml:"location,attr"`
	} `xml:"service>port>address"`
}

func TestWSDLDescribesTheBinding(t *testing.T) {
	srv, ctl, _ := newServer(t)
	resp, err := http.Get(srv.URL + Path + "?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var w wsdl
	if err := xml.NewDecoder(resp.Body).Decode(&w); err != nil {
		t.Fatalf("WSDL does not parse: %v", err)
	}
	b := Binding(srv.URL)
	params := b.Operations["person"].Params
	if w.TargetNamespace != params["namespace"] || w.Schema.TargetNamespace != params["namespace"] {
		t.Errorf("namespaces %q, %q; binding says %q", w.TargetNamespace, w.Schema.TargetNamespace, params["namespace"])
	}
	elements := map[string]bool{}
	for _, e := range w.Schema.Elements {
		elements[e.Name] = true
	}
	for _, e := range []string{params["element"], params["element"] + "Response", params["errorCodeElement"]} {
		if !elements[e] {
			t.Errorf("schema lacks element %s: %v", e, elements)
		}
	}
	if len(w.Messages) != 3 || len(w.PortType.Operations) != 1 || w.PortType.Operations[0].Name != params["element"] {
		t.Errorf("messages %v, portType %v", w.Messages, w.PortType.Operations)
	}
	if w.Binding.SOAP.Style != "document" || w.Binding.SOAP.Transport != "http://schemas.xmlsoap.org/soap/http" {
		t.Errorf("soap:binding %+v", w.Binding.SOAP)
	}
	if len(w.Binding.Operations) != 1 || w.Binding.Operations[0].SOAP.Action != params["action"] {
		t.Errorf("binding operations %+v, want soapAction %s", w.Binding.Operations, params["action"])
	}
	if w.Address.Location != b.Endpoint {
		t.Errorf("soap:address %q, want %q", w.Address.Location, b.Endpoint)
	}
	if n := ctl.Count("wsdl"); n != 1 {
		t.Errorf("wsdl count %d", n)
	}
}

func TestStatsCountOperations(t *testing.T) {
	srv, _, _ := newServer(t)
	for range 3 {
		query(t, srv.URL, ActionQueryPerson, queryPerson(dataset.ZhangWei))
	}
	query(t, srv.URL, "urn:other", queryPerson(dataset.ZhangWei))
	resp, err := http.Get(srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Requests map[string]int64
		Total    int64
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if stats.Requests["QueryPerson"] != 3 || stats.Requests["unknown"] != 1 || stats.Total != 4 {
		t.Errorf("stats %+v", stats)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv, _, _ := newServer(t)
	resp, err := http.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET without ?wsdl: status %d", resp.StatusCode)
	}
}

func TestBindingCodeTables(t *testing.T) {
	b := Binding("http://127.0.0.1:1")
	eth := b.Codes["ethnicity"]
	names := map[string]bool{}
	for code, name := range eth {
		names[name] = true
		if len(code) != 2 {
			t.Errorf("code %q", code)
		}
	}
	if len(eth) != 58 || len(names) != 58 {
		t.Errorf("%d codes, %d distinct names; want 56 groups plus 97 and 98", len(eth), len(names))
	}
	for code, want := range map[string]string{"01": "汉族", "05": "维吾尔族", "29": "柯尔克孜族", "56": "基诺族", "98": "外国血统中国籍人士"} {
		if eth[code] != want {
			t.Errorf("ethnicity %s = %q, want %q", code, eth[code], want)
		}
	}
	// Every code the registry holds must be in the table.
	for p := range dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 2000}).AllPersons() {
		if eth[p.Ethnicity] == "" || b.Codes["gender"][p.Gender] == "" {
			t.Fatalf("%s: ethnicity %q or gender %q missing from the code tables", p.Name, p.Ethnicity, p.Gender)
		}
	}
}

// TestDistrictRegistry: over a registry too large to hold (the district's 5.7 million,
// generated when asked), the service answers as it does over a held one: any person by
// ID number, and "not found" for a number outside it.
func TestDistrictRegistry(t *testing.T) {
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 5_700_000})
	srv := httptest.NewServer(NewHandler(ds, simhttp.NewControl()))
	t.Cleanup(srv.Close)
	for _, i := range []int{0, 5, ds.NumPersons() / 2, ds.NumPersons() - 1} {
		p := ds.Person(i)
		status, a := query(t, srv.URL, ActionQueryPerson, queryPerson(strings.ToLower(p.IDNumber)))
		if status != http.StatusOK || a.Body.Person == nil || a.Body.Person.SFZH != p.IDNumber || a.Body.Person.XM != p.Name || a.Body.Person.HJDZ != p.Address {
			t.Errorf("person %d (%s): status %d, %+v", i, p.IDNumber, status, a.Body.Person)
		}
	}
	beyond := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 5_800_000}).Person(5_700_010).IDNumber
	if status, a := query(t, srv.URL, ActionQueryPerson, queryPerson(beyond)); status != http.StatusInternalServerError || a.Body.Fault == nil || a.Body.Fault.ErrorCode != CodeNotFound {
		t.Errorf("a person of a larger registry: status %d, %+v", status, a.Body.Fault)
	}
}
