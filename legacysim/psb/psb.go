// Package psb simulates the Public Security Bureau's population registry as such systems
// really are: a SOAP 1.1 document/literal service with a WSDL at ?wsdl, one ID per
// QueryPerson call, answers encoded in GBK and errors as SOAP faults. The gateway's
// generic SOAP adapter talks to it exactly as it would talk to the real registry.
package psb

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/template"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"

	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// The service's contract, as its WSDL publishes it.
const (
	// Path is where the service listens.
	Path = "/PopulationService"
	// Namespace is the target namespace of the service's schema and messages.
	Namespace = "http://gaj.pudong.gov.cn/rkxx/PopulationService"
	// ActionQueryPerson is the SOAPAction of QueryPerson.
	ActionQueryPerson = Namespace + "/QueryPerson"
)

// Application error codes carried in a fault's <detail><ErrorCode>.
const (
	CodeNotFound      = "PERSON_NOT_FOUND"
	CodeBadRequest    = "BAD_REQUEST"
	CodeUnknownAction = "UNSUPPORTED_ACTION"
	CodeSystemError   = "SYSTEM_ERROR"
)

const (
	envelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	// maxRequest bounds a request body: one ID fits in a few hundred bytes.
	maxRequest = 64 << 10
)

// handler serves the registry. It is read-only after construction, so one handler serves
// any number of concurrent requests.
type handler struct {
	ds   *dataset.Dataset
	wsdl *template.Template
}

// NewHandler serves ds's persons, wrapped in ctl's counters and fault injection. A lookup
// is ds.PersonByID: constant time, and no memory per person for a registry of millions.
func NewHandler(ds *dataset.Dataset, ctl *simhttp.Control) http.Handler {
	h := &handler{ds: ds, wsdl: parseWSDL()}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, h.serve)
	return ctl.Wrap(simhttp.Protocol{
		Operation: operation,
		ServerError: func(w http.ResponseWriter) {
			writeFault(w, "soap:Server", "系统内部错误，请稍后重试", CodeSystemError)
		},
		Garbage: writeGarbage,
	}, mux)
}

// operation names a request for the counters. Unknown actions share one name so that a
// caller cannot grow the counter map without bound.
func operation(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet && isWSDL(r):
		return "wsdl"
	case soapAction(r) == ActionQueryPerson:
		return "QueryPerson"
	default:
		return "unknown"
	}
}

func isWSDL(r *http.Request) bool { return strings.EqualFold(r.URL.RawQuery, "wsdl") }

// soapAction returns the SOAPAction header without the quotes SOAP 1.1 puts around it.
func soapAction(r *http.Request) string {
	return strings.Trim(strings.TrimSpace(r.Header.Get("SOAPAction")), `"`)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && isWSDL(r):
		h.serveWSDL(w, r)
	case r.Method == http.MethodPost:
		h.serveSOAP(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET ?wsdl for the service description, POST SOAP 1.1 requests", http.StatusMethodNotAllowed)
	}
}

// queryEnvelope is a QueryPerson request. SFZH is a slice so that a request carrying
// several IDs is refused instead of silently answering one of them: the registry has no
// batch operation.
type queryEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Query *struct {
			SFZH []string `xml:"http://gaj.pudong.gov.cn/rkxx/PopulationService SFZH"`
		} `xml:"http://gaj.pudong.gov.cn/rkxx/PopulationService QueryPerson"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func (h *handler) serveSOAP(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values("SOAPAction")) == 0 {
		writeFault(w, "soap:Client", "缺少 SOAPAction 请求头", CodeUnknownAction)
		return
	}
	if soapAction(r) != ActionQueryPerson {
		writeFault(w, "soap:Client", "不支持的 SOAPAction", CodeUnknownAction)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		writeFault(w, "soap:Client", "请求报文过大或读取失败", CodeBadRequest)
		return
	}
	var env queryEnvelope
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, err
		}
		return enc.NewDecoder().Reader(in), nil
	}
	if err := dec.Decode(&env); err != nil {
		writeFault(w, "soap:Client", "请求报文格式错误", CodeBadRequest)
		return
	}
	q := env.Body.Query
	switch {
	case q == nil:
		writeFault(w, "soap:Client", "请求报文缺少 QueryPerson 元素", CodeBadRequest)
		return
	case len(q.SFZH) != 1 || strings.TrimSpace(q.SFZH[0]) == "":
		writeFault(w, "soap:Client", "请求报文须包含且仅包含一个公民身份号码(SFZH)", CodeBadRequest)
		return
	}
	p, ok := h.ds.PersonByID(strings.ToUpper(strings.TrimSpace(q.SFZH[0])))
	if !ok {
		writeFault(w, "soap:Client", "未找到该公民身份号码对应的人口信息", CodeNotFound)
		return
	}
	writePerson(w, &p)
}

func writePerson(w http.ResponseWriter, p *dataset.Person) {
	var b bytes.Buffer
	b.WriteString(`<soap:Envelope xmlns:soap="` + envelopeNS + `"><soap:Body>`)
	b.WriteString(`<QueryPersonResponse xmlns="` + Namespace + `"><Person>`)
	for _, f := range []struct{ name, value string }{
		{"SFZH", p.IDNumber}, {"XM", p.Name}, {"XB", p.Gender}, {"CSRQ", p.BirthDate},
		{"MZ", p.Ethnicity}, {"HJDZ", p.Address}, {"LXDH", p.Phone},
	} {
		if f.value == "" {
			b.WriteString("<" + f.name + "/>")
			continue
		}
		b.WriteString("<" + f.name + ">")
		xml.EscapeText(&b, []byte(f.value))
		b.WriteString("</" + f.name + ">")
	}
	b.WriteString(`</Person></QueryPersonResponse></soap:Body></soap:Envelope>`)
	writeGBK(w, http.StatusOK, b.Bytes())
}

// writeFault answers a SOAP 1.1 fault. The faultstring never repeats the ID asked for: a
// registry does not echo personal data into error logs.
func writeFault(w http.ResponseWriter, code, message, errorCode string) {
	var b bytes.Buffer
	b.WriteString(`<soap:Envelope xmlns:soap="` + envelopeNS + `"><soap:Body><soap:Fault>`)
	b.WriteString("<faultcode>" + code + "</faultcode><faultstring xml:lang=\"zh-CN\">")
	xml.EscapeText(&b, []byte(message))
	b.WriteString(`</faultstring><detail><ErrorCode xmlns="` + Namespace + `">` + errorCode + `</ErrorCode></detail>`)
	b.WriteString(`</soap:Fault></soap:Body></soap:Envelope>`)
	writeGBK(w, http.StatusInternalServerError, b.Bytes())
}

// writeGBK encodes an UTF-8 document in GBK, as the registry does. A character GBK
// cannot hold becomes a numeric character reference, which any XML reader turns back.
func writeGBK(w http.ResponseWriter, status int, utf8Doc []byte) {
	enc := encoding.HTMLEscapeUnsupported(simplifiedchinese.GBK.NewEncoder())
	doc, err := enc.Bytes(utf8Doc)
	if err != nil {
		// Unreachable with HTMLEscapeUnsupported; answer as the registry would fail.
		http.Error(w, "encoding error", http.StatusInternalServerError)
		return
	}
	out := append([]byte(`<?xml version="1.0" encoding="GBK"?>`+"\n"), doc...)
	w.Header().Set("Content-Type", "text/xml; charset=GBK")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	w.Write(out)
}

// writeGarbage answers 200 with what a failing registry sends: an answer cut off in the
// middle, with bytes that are not GBK where a name should be.
func writeGarbage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml; charset=GBK")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `<?xml version="1.0" encoding="GBK"?>`+"\n"+
		`<soap:Envelope xmlns:soap="`+envelopeNS+`"><soap:Body><QueryPersonResponse xmlns="`+Namespace+
		`"><Person><SFZH>3101`+"\x81\x20\xff\xfe<XM>\x80")
}
