// Package amr simulates the Market Supervision (AMR) enterprise registry: a REST/JSON API
// behind an API key, answering in the registry's own legacy field names and quirks (a
// status code sent as a JSON number, capital in units of 10,000 CNY as a string). The
// gateway's generic REST adapter talks to it exactly as it would to the real registry.
//
// Routes:
//
//	GET /v1/enterprises/{code}                        one enterprise, 404 when unknown
//	GET /v1/enterprises?codes=a,b,…                   up to 100 at once; unknown codes are left out
//	GET /v1/enterprises?legalRepId=…&page=1&size=20   the enterprises a person represents
//	GET /v1/enterprises?page=1&size=20                every enterprise, ordered by credit code
//
// plus /_sim/stats and /_sim/fault from simhttp.
package amr

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// Limits of the registry's API, as its documentation states them.
const (
	MaxBatch        = 100 // codes per batch request
	DefaultPageSize = 20
	MaxPageSize     = 100
)

const collectionPath = "/v1/enterprises"

// NewHandler serves ds's enterprises. Requests must carry apiKey in the X-API-Key header.
// The two orders the registry answers in (by credit code, by legal representative) are
// built once here as sorted slices of positions, four bytes an enterprise, and an
// enterprise is read from ds when it is rendered, so that a registry of a million
// enterprises costs a few megabytes and every lookup is a binary search.
func NewHandler(ds *dataset.Dataset, apiKey string, ctl *simhttp.Control) http.Handler {
	reg := newRegistry(ds, apiKey)
	return ctl.Wrap(simhttp.Protocol{
		Operation: operation,
		ServerError: func(w http.ResponseWriter) {
			writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "the registry database is not responding")
		},
		Garbage: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.Write([]byte(`{"data":[{"tyshxydm":"91310115MA1FL0AB0P","qymc":"上海浦江`))
		},
	}, reg)
}

// Binding is the gateway's configuration for the registry at baseURL: the same thing a
// production YAML file would say for the real system.
func Binding(baseURL, apiKey string) config.Department {
	return config.Department{
		ID:          "amr",
		Name:        "浦东新区市场监督管理局",
		Protocol:    "rest",
		Endpoint:    baseURL,
		Auth:        config.HeaderAuth{Header: "X-API-Key", Key: apiKey},
		Timeout:     3 * time.Second,
		Concurrency: 8,
		Operations: map[string]config.Operation{
			"enterprise": {Batch: MaxBatch, Params: map[string]string{
				"path":         collectionPath,
				"query":        "codes={keys}",
				"keySeparator": ",",
				"records":      "data",
				"keyField":     "tyshxydm",
			}},
			"byLegalRep": {Params: map[string]string{
				"path":        collectionPath,
				"query":       "legalRepId={key}",
				"records":     "data",
				"total":       "total",
				"keyField":    "fddbr_sfzh",
				"pageParam":   "page",
				"sizeParam":   "size",
				"firstPage":   "1",
				"maxPageSize": strconv.Itoa(MaxPageSize),
				"maxPages":    "20",
			}},
			"list": {Params: map[string]string{
				"path":        collectionPath,
				"records":     "data",
				"total":       "total",
				"pageParam":   "page",
				"sizeParam":   "size",
				"firstPage":   "1",
				"maxPageSize": strconv.Itoa(MaxPageSize),
			}},
		},
		Fields: []config.FieldMap{
			{From: "tyshxydm", To: "creditCode"},
			{From: "qymc", To: "name"},
			{From: "fddbr", To: "legalRepresentativeName"},
			{From: "fddbr_sfzh", To: "legalRepresentativeId"},
			{From: "djzt", To: "status", Code: "enterpriseStatus"},
			{From: "clrq", To: "establishedOn", Date: "2006-01-02"},
			{From: "zczb", To: "registeredCapital", Scale: "10000"},
			{From: "jyfw", To: "businessScope"},
			{From: "zs", To: "address"},
		},
		Codes: map[string]map[string]string{
			"enterpriseStatus": {"1": "ACTIVE", "2": "REVOKED", "3": "CANCELLED", "4": "MOVED_OUT"},
		},
	}
}

// operation names a request for the simulator's counters.
func operation(r *http.Request) string {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, collectionPath+"/"):
		return "get"
	case p != collectionPath:
		return "other"
	}
	q := r.URL.Query()
	switch {
	case q.Has("codes"):
		return "batch"
	case q.Has("legalRepId"):
		return "byLegalRep"
	default:
		return "list"
	}
}

// registry answers from a dataset through two sorted indexes of positions into it.
type registry struct {
	apiKey []byte
	ds     *dataset.Dataset
	byCode []int32 // ordered by credit code: the stable listing order
	byRep  []int32 // ordered by legal representative ID, then credit code
}

func newRegistry(ds *dataset.Dataset, apiKey string) *registry {
	n := ds.NumEnterprises()
	r := &registry{apiKey: []byte(apiKey), ds: ds, byCode: make([]int32, n)}
	// The keys are computed once for the sort and dropped with it.
	codes, reps := make([]string, n), make([]string, n)
	for i := range r.byCode {
		r.byCode[i] = int32(i)
		codes[i], reps[i] = ds.CreditCode(i), ds.LegalRepID(i)
	}
	r.byRep = slices.Clone(r.byCode)
	slices.SortFunc(r.byCode, func(a, b int32) int { return strings.Compare(codes[a], codes[b]) })
	slices.SortFunc(r.byRep, func(a, b int32) int {
		return cmp.Or(strings.Compare(reps[a], reps[b]), strings.Compare(codes[a], codes[b]))
	})
	return r
}

// represented returns the slice of byRep holding the enterprises whose legal
// representative is id.
func (r *registry) represented(id string) []int32 {
	lo, _ := slices.BinarySearchFunc(r.byRep, id, func(e int32, s string) int { return strings.Compare(r.ds.LegalRepID(int(e)), s) })
	hi := lo
	for hi < len(r.byRep) && r.ds.LegalRepID(int(r.byRep[hi])) == id {
		hi++
	}
	return r.byRep[lo:hi]
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("X-API-Key")), r.apiKey) != 1 {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "missing or invalid API key (header X-API-Key)")
		return
	}
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "only GET is supported")
		return
	}
	// Route on the escaped path, without any cleaning, so that an escaped "/" or ".."
	// inside a code stays part of that code and can never select another resource.
	p := req.URL.EscapedPath()
	switch {
	case p == collectionPath:
		r.serveCollection(w, req.URL.Query())
	case strings.HasPrefix(p, collectionPath+"/"):
		r.serveOne(w, strings.TrimPrefix(p, collectionPath+"/"))
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
	}
}

func (r *registry) serveOne(w http.ResponseWriter, escaped string) {
	code, err := url.PathUnescape(escaped)
	if err != nil || strings.Contains(escaped, "/") {
		writeError(w, http.StatusBadRequest, "INVALID_CODE", "the path must end in one unified social credit code")
		return
	}
	if err := idcode.ValidateCreditCode(code); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_CODE", err.Error())
		return
	}
	e, ok := r.ds.EnterpriseByCode(code)
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no enterprise is registered under this code")
		return
	}
	writeJSON(w, http.StatusOK, render(&e))
}

func (r *registry) serveCollection(w http.ResponseWriter, q url.Values) {
	if q.Has("codes") {
		if q.Has("legalRepId") {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "codes and legalRepId cannot be combined")
			return
		}
		r.serveBatch(w, q.Get("codes"))
		return
	}
	page, size, err := paging(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_PAGING", err.Error())
		return
	}
	all := r.byCode
	if q.Has("legalRepId") {
		all = r.represented(q.Get("legalRepId"))
	}
	start := min((page-1)*size, len(all))
	end := min(start+size, len(all))
	data := make([]enterpriseJSON, 0, end-start)
	for _, i := range all[start:end] {
		e := r.ds.Enterprise(int(i))
		data = append(data, render(&e))
	}
	writeJSON(w, http.StatusOK, listJSON{Data: data, Total: len(all), Page: page, Size: size})
}

func (r *registry) serveBatch(w http.ResponseWriter, list string) {
	codes := strings.Split(list, ",")
	if len(codes) > MaxBatch {
		writeError(w, http.StatusBadRequest, "TOO_MANY_CODES", "at most "+strconv.Itoa(MaxBatch)+" codes per request")
		return
	}
	data := make([]enterpriseJSON, 0, len(codes))
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if seen[c] {
			continue
		}
		seen[c] = true
		if e, ok := r.ds.EnterpriseByCode(c); ok {
			data = append(data, render(&e))
		}
	}
	writeJSON(w, http.StatusOK, batchJSON{Data: data, Total: len(data)})
}

// paging reads page (1-based, default 1) and size (default 20, at most 100).
func paging(q url.Values) (page, size int, err error) {
	page, size = 1, DefaultPageSize
	if s := q.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, errors.New("page must be a whole number from 1")
		}
	}
	if s := q.Get("size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > MaxPageSize {
			return 0, 0, errors.New("size must be a whole number from 1 to " + strconv.Itoa(MaxPageSize))
		}
	}
	if page > (1<<31)/size {
		return 0, 0, errors.New("page is out of range")
	}
	return page, size, nil
}

// enterpriseJSON is an enterprise as the registry sends it.
type enterpriseJSON struct {
	Tyshxydm  string `json:"tyshxydm"`
	Qymc      string `json:"qymc"`
	Fddbr     string `json:"fddbr"`
	FddbrSfzh string `json:"fddbr_sfzh"`
	Zczb      string `json:"zczb"`
	Clrq      string `json:"clrq"`
	Djzt      int    `json:"djzt"` // a number on the wire, unlike every other field
	Jyfw      string `json:"jyfw"`
	Zs        string `json:"zs"`
}

type batchJSON struct {
	Data  []enterpriseJSON `json:"data"`
	Total int              `json:"total"`
}

type listJSON struct {
	Data  []enterpriseJSON `json:"data"`
	Total int              `json:"total"`
	Page  int              `json:"page"`
	Size  int              `json:"size"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func render(e *dataset.Enterprise) enterpriseJSON {
	status, _ := strconv.Atoi(e.Status)
	return enterpriseJSON{
		Tyshxydm: e.CreditCode, Qymc: e.Name, Fddbr: e.LegalRepName, FddbrSfzh: e.LegalRepID,
		Zczb: e.Capital, Clrq: e.Established, Djzt: status, Jyfw: e.Scope, Zs: e.Address,
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorJSON{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("amr simulator: writing response", "err", err)
	}
}
