package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"pudong.gov.cn/gateway/adapters"
)

// envelopeNS is the SOAP 1.1 envelope namespace; a SOAP 1.2 answer is not understood.
const envelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"

// Fault is a SOAP fault a department answered with. It unwraps to adapters.ErrUnavailable
// whatever its faultcode: a Server fault is the department failing, and a Client fault
// (other than the operation's not-found code, which is no error at all) means the
// department refused what this binding sent: the action, namespace or element no longer
// match the system, or it rejects the key's form. Either way the department cannot answer
// through this binding until someone acts, and retrying will not help; the gateway should
// treat it like an outage rather than blame the answer's bytes (ErrBadResponse is kept for
// answers that cannot be read). Use Client to tell the two apart, e.g. to alert on a
// binding that has drifted from the real system.
type Fault struct {
	Code      string // faultcode as sent, e.g. "soap:Client"
	String    string // faultstring, with digit runs that could be ID or phone numbers cut out
	ErrorCode string // the application's code from <detail>, if the binding names its element
}

// Client reports whether the department blames the request (faultcode Client or a
// Client.* subcode) rather than itself.
func (f *Fault) Client() bool {
	local := f.Code
	if i := strings.LastIndexByte(local, ':'); i >= 0 {
		local = local[i+1:]
	}
	return local == "Client" || strings.HasPrefix(local, "Client.")
}

func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("SOAP fault " + f.Code)
	if f.ErrorCode != "" {
		b.WriteString(" (" + f.ErrorCode + ")")
	}
	if f.String != "" {
		b.WriteString(": " + f.String)
	}
	return b.String()
}

// Unwrap makes every fault an adapters.ErrUnavailable; see Fault.
func (f *Fault) Unwrap() error { return adapters.ErrUnavailable }

// shape names the elements of an answer that matter to one operation.
type shape struct {
	result    string // local name of the element holding one record
	errorCode string // local name of the error code element inside a fault's detail
}

// answer is a decoded SOAP response: records (legacy field → text) or a fault.
type answer struct {
	records []map[string]string
	fault   *Fault
}

// errCharset marks an answer whose bytes do not decode in the charset it declares.
var errCharset = errors.New("bytes that are not valid in the declared charset")

// decode reads a SOAP 1.1 envelope in the charset its prolog declares. Records are the
// direct children of every result element in the Body, by local name (namespaces and
// prefixes vary between SOAP stacks and do not change meaning here). The whole document
// is read, so an answer cut off after its last record is still refused.
func decode(body []byte, s shape) (answer, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	transcoded := false
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		enc, err := charset(label)
		if err != nil {
			return nil, err
		}
		transcoded = true
		return enc.NewDecoder().Reader(in), nil
	}
	w := &walk{s: s}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return answer{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := w.start(t.Name); err != nil {
				return answer{}, err
			}
		case xml.CharData:
			if transcoded && bytes.ContainsRune(t, utf8.RuneError) {
				// x/text decoders replace what they cannot decode instead of failing.
				return answer{}, errCharset
			}
			if w.textAt != 0 && w.depth == w.textAt {
				w.text.Write(t)
			}
		case xml.EndElement:
			w.end(t.Name)
		}
	}
	return w.result()
}

// walk is where decode stands in an envelope, and what it has read so far.
type walk struct {
	s          shape
	a          answer
	depth      int
	sawRoot    bool
	bodyOpen   bool
	sawBody    bool
	faultDepth int // depth of the Fault element while inside it, else 0
	detailOpen bool
	record     map[string]string
	recordAt   int // depth of the open result element
	text       strings.Builder
	textAt     int    // depth whose character data is being collected, 0 if none
	textFor    string // what the collected text is: a field name, or a fault part
}

func (w *walk) capture(what string) { w.text.Reset(); w.textAt, w.textFor = w.depth, what }

// start opens an element.
func (w *walk) start(name xml.Name) error {
	w.depth++
	switch {
	case w.depth == 1:
		if name.Local != "Envelope" || name.Space != envelopeNS {
			return fmt.Errorf("root element <%s> is not a SOAP 1.1 Envelope", name.Local)
		}
		w.sawRoot = true
	case w.depth == 2:
		if name.Local == "Body" && name.Space == envelopeNS {
			w.bodyOpen, w.sawBody = true, true
		}
	case !w.bodyOpen:
		// Header blocks and extensions: nothing the gateway reads.
	case w.depth == 3 && name.Local == "Fault" && name.Space == envelopeNS && w.a.fault == nil:
		w.a.fault, w.faultDepth = &Fault{}, w.depth
	case w.faultDepth > 0:
		switch {
		case w.depth == w.faultDepth+1 && (name.Local == "faultcode" || name.Local == "faultstring"):
			w.capture(name.Local)
		case w.depth == w.faultDepth+1 && name.Local == "detail":
			w.detailOpen = true
		case w.detailOpen && w.s.errorCode != "" && name.Local == w.s.errorCode && w.a.fault.ErrorCode == "":
			w.capture("errorCode")
		}
	case w.record == nil && name.Local == w.s.result:
		w.record, w.recordAt = map[string]string{}, w.depth
	case w.record != nil && w.depth == w.recordAt+1:
		w.capture(name.Local)
	}
	return nil
}

// end closes an element: the text collected for it is kept, and a record or fault part
// that ends here is done.
func (w *walk) end(name xml.Name) {
	if w.textAt == w.depth && w.textAt != 0 {
		w.keepText()
	}
	switch {
	case w.record != nil && w.depth == w.recordAt:
		w.a.records = append(w.a.records, w.record)
		w.record = nil
	case w.faultDepth > 0 && w.depth == w.faultDepth+1 && name.Local == "detail":
		w.detailOpen = false
	case w.faultDepth > 0 && w.depth == w.faultDepth:
		w.faultDepth = 0
	case w.depth == 2:
		w.bodyOpen = false
	}
	w.depth--
}

// keepText stores the text of the element that just ended where it belongs.
func (w *walk) keepText() {
	v := w.text.String()
	switch {
	case w.record != nil:
		if _, dup := w.record[w.textFor]; !dup {
			w.record[w.textFor] = v
		}
	case w.textFor == "faultcode":
		w.a.fault.Code = strings.TrimSpace(v)
	case w.textFor == "faultstring":
		w.a.fault.String = redact(strings.TrimSpace(v))
	case w.textFor == "errorCode":
		w.a.fault.ErrorCode = redact(strings.TrimSpace(v))
	}
	w.textAt = 0
}

// result is the answer once the document has been read to its end.
func (w *walk) result() (answer, error) {
	switch {
	case !w.sawRoot:
		return answer{}, errors.New("no XML document")
	case !w.sawBody:
		return answer{}, errors.New("envelope without a Body")
	case w.a.fault != nil:
		w.a.records = nil
	}
	return w.a, nil
}

// charset returns the decoder for an XML prolog's encoding label. The Chinese national
// charsets are what government systems answer in; GB2312 is read as GBK, its superset, as
// every real GB2312 producer actually emits GBK.
func charset(label string) (encoding.Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "gbk", "cp936", "windows-936", "gb2312", "gb_2312-80", "euc-cn", "x-gbk":
		return simplifiedchinese.GBK, nil
	case "gb18030":
		return simplifiedchinese.GB18030, nil
	case "utf8":
		return encoding.Nop, nil
	}
	return nil, fmt.Errorf("unsupported charset %q (want GBK, GB2312, GB18030 or UTF-8)", label)
}

// maxFaultText bounds how much of a department's fault text reaches the gateway's logs.
const maxFaultText = 200

// redact cuts every run of seven or more digits (an ID number, a phone number, an account)
// out of text a department wrote, and bounds its length, so that a fault that echoes the
// person asked about cannot carry personal data into errors and logs.
func redact(s string) string {
	var b strings.Builder
	run := 0 // digits (or an ID's trailing X) held back
	start := 0
	flush := func(end int) {
		if run >= 7 {
			b.WriteString("***")
		} else {
			b.WriteString(s[start:end])
		}
		run = 0
	}
	for i, r := range s {
		if r >= '0' && r <= '9' || (run > 0 && (r == 'X' || r == 'x')) {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run > 0 {
			flush(i)
		}
		b.WriteRune(r)
	}
	if run > 0 {
		flush(len(s))
	}
	out := b.String()
	if utf8.RuneCountInString(out) > maxFaultText {
		out = string([]rune(out)[:maxFaultText]) + "…"
	}
	return out
}
