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
	var a answer
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

	var (
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
	)
	capture := func(at int, what string) { text.Reset(); textAt, textFor = at, what }

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
			depth++
			name := t.Name
			switch {
			case depth == 1:
				if name.Local != "Envelope" || name.Space != envelopeNS {
					return answer{}, fmt.Errorf("root element <%s> is not a SOAP 1.1 Envelope", name.Local)
				}
				sawRoot = true
			case depth == 2:
				if name.Local == "Body" && name.Space == envelopeNS {
					bodyOpen, sawBody = true, true
				}
			case !bodyOpen:
				// Header blocks and extensions: nothing the gateway reads.
			case depth == 3 && name.Local == "Fault" && name.Space == envelopeNS && a.fault == nil:
				a.fault, faultDepth = &Fault{}, depth
			case faultDepth > 0:
				switch {
				case depth == faultDepth+1 && (name.Local == "faultcode" || name.Local == "faultstring"):
					capture(depth, name.Local)
				case depth == faultDepth+1 && name.Local == "detail":
					detailOpen = true
				case detailOpen && s.errorCode != "" && name.Local == s.errorCode && a.fault.ErrorCode == "":
					capture(depth, "errorCode")
				}
			case record == nil && name.Local == s.result:
				record, recordAt = map[string]string{}, depth
			case record != nil && depth == recordAt+1:
				capture(depth, name.Local)
			}
		case xml.CharData:
			if transcoded && bytes.ContainsRune(t, utf8.RuneError) {
				// x/text decoders replace what they cannot decode instead of failing.
				return answer{}, errCharset
			}
			if textAt != 0 && depth == textAt {
				text.Write(t)
			}
		case xml.EndElement:
			if textAt == depth && textAt != 0 {
				v := text.String()
				switch {
				case record != nil:
					if _, dup := record[textFor]; !dup {
						record[textFor] = v
					}
				case textFor == "faultcode":
					a.fault.Code = strings.TrimSpace(v)
				case textFor == "faultstring":
					a.fault.String = redact(strings.TrimSpace(v))
				case textFor == "errorCode":
					a.fault.ErrorCode = redact(strings.TrimSpace(v))
				}
				textAt = 0
			}
			switch {
			case record != nil && depth == recordAt:
				a.records = append(a.records, record)
				record = nil
			case faultDepth > 0 && depth == faultDepth+1 && t.Name.Local == "detail":
				detailOpen = false
			case faultDepth > 0 && depth == faultDepth:
				faultDepth = 0
			case depth == 2:
				bodyOpen = false
			}
			depth--
		}
	}
	switch {
	case !sawRoot:
		return answer{}, errors.New("no XML document")
	case !sawBody:
		return answer{}, errors.New("envelope without a Body")
	case a.fault != nil:
		a.records = nil
	}
	return a, nil
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
