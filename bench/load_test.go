package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// loadServer answers by the request body: "ok" succeeds, "denied" carries the expected
// FORBIDDEN_FIELD error, "boom" is an HTTP 500, anything else an unexpected GraphQL error.
// Every request must carry the target's token and ask for JSON.
func loadServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Accept") != "application/json" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		switch string(body) {
		case "ok":
			io.WriteString(w, `{"data":{}}`)
		case "denied":
			io.WriteString(w, `{"data":{},"errors":[{"message":"no","extensions":{"code":"FORBIDDEN_FIELD"}}]}`)
		case "boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			io.WriteString(w, `{"errors":[{"message":"x","extensions":{"code":"INTERNAL"}}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoaderClosedLoopTallies(t *testing.T) {
	srv := loadServer(t)
	l := newLoader(2)
	defer l.close()
	tg := target{URL: srv.URL, Token: "tok", Expected: "FORBIDDEN_FIELD",
		Bodies: [][]byte{[]byte("ok"), []byte("denied"), []byte("boom"), []byte("other")}}
	r := l.run(context.Background(), tg, 200*time.Millisecond, 0)
	if r.Requests < 8 {
		t.Fatalf("requests = %d, want a closed loop's many", r.Requests)
	}
	if r.Errors != r.HTTPErrors+r.GraphQLErrs+r.NetErrors || r.NetErrors != 0 {
		t.Errorf("errors %d = http %d + graphql %d + net %d, want no net errors", r.Errors, r.HTTPErrors, r.GraphQLErrs, r.NetErrors)
	}
	if r.HTTPErrors == 0 || r.GraphQLErrs == 0 || r.ExpectedErrors == 0 {
		t.Errorf("http %d, graphql %d, expected %d: want each body's outcome counted", r.HTTPErrors, r.GraphQLErrs, r.ExpectedErrors)
	}
	if r.ErrorKinds["http 500"] != r.HTTPErrors || r.ErrorKinds["graphql INTERNAL"] != r.GraphQLErrs {
		t.Errorf("error kinds %v, want http 500 = %d and graphql INTERNAL = %d", r.ErrorKinds, r.HTTPErrors, r.GraphQLErrs)
	}
	// Bodies are taken in turn: a quarter of the requests each, give or take one per connection.
	if q := r.Requests / 4; r.HTTPErrors < q-2 || r.HTTPErrors > q+2 {
		t.Errorf("http errors %d of %d requests, want about a quarter", r.HTTPErrors, r.Requests)
	}
	if !strings.HasPrefix(r.FirstError, "http 500: ") && !strings.HasPrefix(r.FirstError, "graphql INTERNAL: ") {
		t.Errorf("first error = %q", r.FirstError)
	}
	if r.Latency.P50 <= 0 || r.RPS <= 0 {
		t.Errorf("latency %+v, rps %v: want measured", r.Latency, r.RPS)
	}
}

func TestLoaderPacedRunKeepsToRate(t *testing.T) {
	srv := loadServer(t)
	l := newLoader(2)
	defer l.close()
	tg := target{URL: srv.URL, Token: "tok", Bodies: [][]byte{[]byte("ok")}}
	r := l.run(context.Background(), tg, 300*time.Millisecond, 100)
	// 100 requests/s for 0.3 s is 30 slots, none beyond the end of the run.
	if r.Requests < 20 || r.Requests > 30 {
		t.Errorf("requests = %d, want about 30 at 100/s for 0.3 s", r.Requests)
	}
	if r.Errors != 0 || r.Rate != 100 || r.Elapsed < 300*time.Millisecond {
		t.Errorf("errors %d (%s), rate %v, elapsed %v", r.Errors, r.FirstError, r.Rate, r.Elapsed)
	}
}

func TestLoaderCountsTransportErrors(t *testing.T) {
	srv := loadServer(t)
	url := srv.URL
	srv.Close()
	l := newLoader(1)
	defer l.close()
	r := l.run(context.Background(), target{URL: url, Token: "tok", Bodies: [][]byte{[]byte("ok")}}, 50*time.Millisecond, 0)
	if r.Requests == 0 || r.NetErrors != r.Requests || r.ErrorKinds["transport"] != r.Requests || r.FirstError == "" {
		t.Errorf("requests %d, net errors %d, kinds %v, first %q: want every request a transport error", r.Requests, r.NetErrors, r.ErrorKinds, r.FirstError)
	}
}
