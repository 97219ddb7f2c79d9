package gqlhttp

import (
	"mime"
	"strconv"
	"strings"
)

// The response media types of the GraphQL over HTTP specification ("Media Types").
const (
	// MediaTypeGraphQLResponse is the specification's preferred response type. Under it the
	// status code tells a GraphQL request error (4xx, no "data") from an executed
	// operation (200), which a client can trust because intermediaries never invent it.
	MediaTypeGraphQLResponse = "application/graphql-response+json"
	// MediaTypeJSON is the legacy response type, and the only request body type accepted.
	// Under it every well-formed request is answered with 200, because a 4xx carrying
	// application/json may as well come from a proxy.
	MediaTypeJSON = "application/json"
)

// match is how well one of our media types is wanted by an Accept header.
type match struct {
	q           float64 // weight of the most specific media range naming it; 0: not acceptable
	specificity int     // 2 exact, 1 application/*, 0 */*, -1 not listed
}

// negotiate picks the response media type from the Accept header values. ok is false when
// the client accepts neither of our types: the specification recommends 406 then rather
// than a body the client cannot read ("Body").
//
// The highest weight wins. On equal weight, a type the client named outright beats one it
// reached through a wildcard. When both are named outright the specification's preferred
// type wins; when both come only from wildcards (*/*, application/*) or there is no Accept
// header at all, the client has no preference and preferGraphQLResponse decides.
func negotiate(accept []string, preferGraphQLResponse bool) (mediaType string, ok bool) {
	fallback := MediaTypeJSON
	if preferGraphQLResponse {
		fallback = MediaTypeGraphQLResponse
	}
	header := strings.TrimSpace(strings.Join(accept, ","))
	if header == "" {
		return fallback, true
	}
	gr := weigh(header, MediaTypeGraphQLResponse)
	js := weigh(header, MediaTypeJSON)
	switch {
	case gr.q <= 0 && js.q <= 0:
		return "", false
	case gr.q != js.q:
		if gr.q > js.q {
			return MediaTypeGraphQLResponse, true
		}
		return MediaTypeJSON, true
	case gr.specificity != js.specificity:
		if gr.specificity > js.specificity {
			return MediaTypeGraphQLResponse, true
		}
		return MediaTypeJSON, true
	case gr.specificity == 2:
		return MediaTypeGraphQLResponse, true
	default:
		return fallback, true
	}
}

// weigh finds the most specific media range in header that covers mediaType (RFC 9110
// section 12.5.1: the most specific range decides the weight, so "*/*, application/json;q=0"
// refuses JSON). Ranges that do not parse, carry a bad weight, or ask for a charset other
// than UTF-8 (the only one we write) are ignored.
func weigh(header, mediaType string) match {
	best := match{specificity: -1}
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rng, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		spec := -1
		switch {
		case rng == mediaType:
			spec = 2
		case rng == "application/*":
			spec = 1
		case rng == "*/*":
			spec = 0
		}
		if spec < 0 || spec < best.specificity {
			continue
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			q, err = strconv.ParseFloat(s, 64)
			if err != nil || !(q >= 0 && q <= 1) { // also refuses NaN
				continue
			}
		}
		if spec > best.specificity {
			best = match{q: q, specificity: spec}
		} else if q > best.q {
			// The same range listed twice: take the kinder weight.
			best.q = q
		}
	}
	if best.specificity < 0 {
		best.q = 0
	}
	return best
}
