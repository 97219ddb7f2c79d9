package server

import (
	"fmt"
	"net/http"
	"slices"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
)

// ConsumerProfile is what the configuration says a consumer's tokens may claim.
type ConsumerProfile struct {
	Dept        string
	Roles       []string
	SelfService bool
}

// ClaimsCheck refuses a verified token whose claims go beyond its consumer's
// configuration: a department or roles the consumer does not have, a citizen_id on a
// consumer that is not a self-service app, or none on one that is. The identity provider
// signs tokens, but the gateway decides what each app may be: a mis-issued token for the
// playground claiming dept=psb must not read the PSB's data as its owner.
func ClaimsCheck(profile func(consumer string) (ConsumerProfile, bool)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := gateway.CallerFrom(r.Context())
			if c == nil {
				next.ServeHTTP(w, r)
				return
			}
			p, ok := profile(c.Consumer)
			var problem string
			switch {
			case !ok:
				problem = "the consumer is not configured"
			case c.Dept != p.Dept:
				problem = fmt.Sprintf("the token claims department %q; consumer %s belongs to %q", c.Dept, c.Consumer, p.Dept)
			case p.SelfService && c.CitizenID == "":
				problem = fmt.Sprintf("consumer %s is a self-service app: its tokens carry citizen_id", c.Consumer)
			case !p.SelfService && c.CitizenID != "":
				problem = fmt.Sprintf("consumer %s is not a self-service app: its tokens carry no citizen_id", c.Consumer)
			default:
				for _, role := range c.Roles {
					if !slices.Contains(p.Roles, role) {
						problem = fmt.Sprintf("the token claims role %q, which consumer %s does not have", role, c.Consumer)
						break
					}
				}
			}
			if problem != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pudong-gateway", error="invalid_token", error_description="claims not allowed for this consumer"`)
				errcode.WriteHTTP(w, errcode.Unauthenticated, "token refused: "+problem, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
