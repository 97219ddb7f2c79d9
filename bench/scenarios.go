package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"pudong.gov.cn/gateway/errcode"
)

// scenario is one operation the harness drives: who asks (a demo consumer) and what.
type scenario struct {
	Name     string
	Title    string
	Consumer string
	Citizen  string // citizen_id claim, for ipudong-portal
	Query    string
	// Expected is the GraphQL error code every answer carries on purpose (a field this
	// consumer may not see), counted apart from failures.
	Expected string
	// Keys, when set, replace the scenario's $key in the query, one request body per key,
	// sent in turn (the cache-size runs).
	Keys []string
	// Peer marks the query that the Hive Gateway peer is measured with; PeerQuery is the
	// same question in the peer's (the REST registry's legacy) field names.
	PeerQuery string
}

const (
	zhangWei = "310115198503120012"
	e1       = "91310115MA1FL0AB0P" // 上海浦江智联科技有限公司, 张伟's
	e2       = "91310115607223817N" // 上海东岸食品有限公司, 王强's (王强 also runs E3)
)

// The scenarios of the issue "Performance: measured side by side".
var scenarios = []scenario{
	{
		Name: "S1", Title: "citizen self-service profile", Consumer: "ipudong-portal", Citizen: zhangWei,
		Query: `query S1 { citizen(idNumber: "` + zhangWei + `") { idNumber name gender birthDate ethnicity householdAddress phone
  socialInsurance { insuranceType status since lastPaidMonth employer { creditCode name } }
  enterprises { creditCode name status registeredCapital }
  creditRecords { id kind title decidedOn } } }`,
	},
	{
		Name: "S2", Title: "enterprise due diligence", Consumer: "online-hall", Expected: errcode.ForbiddenField,
		Query: `query S2 { enterprise(creditCode: "` + e1 + `") { creditCode name status establishedOn registeredCapital address
  legalRepresentative { name birthDate householdAddress }
  creditRecords { id kind title content decidedOn }
  insuredEmployees } }`,
	},
	{
		Name: "S2u", Title: "enterprise, unconditional fields only (ceiling comparison)", Consumer: "online-hall",
		Query: `query S2u { enterprise(creditCode: "$key") { creditCode name legalRepresentativeName status establishedOn registeredCapital businessScope address } }`,
		Keys:  []string{e1},
	},
	{
		Name: "S3", Title: "supervision sweep, 50 enterprises", Consumer: "supervision-platform",
		Query: `query S3 { enterprises(first: 50) { edges { node { name creditRecords { kind title } legalRepresentative { name } } } } }`,
	},
	{
		Name: "S4", Title: "catalogue browse", Consumer: "playground",
		Query: `query S4 { catalog { code field owner class access } }`,
	},
	{
		Name: "P", Title: "enterprise → enterprises of its legal representative, two levels (the peer's query)", Consumer: "online-hall",
		Query: `query P { enterprise(creditCode: "` + e2 + `") { creditCode name legalRepresentativeName
  legalRepresentative { enterprises { creditCode name status establishedOn
    legalRepresentative { enterprises { creditCode name } } } } } }`,
		PeerQuery: `query P { enterprise(code: "` + e2 + `") { tyshxydm qymc fddbr
  legalRepEnterprises { data { tyshxydm qymc djzt clrq
    legalRepEnterprises { data { tyshxydm qymc } } } } } }`,
	},
}

func findScenario(name string) (scenario, bool) {
	for _, s := range scenarios {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return scenario{}, false
}

// bodies renders the scenario's JSON request bodies: one, or one per key.
func (s scenario) bodies(peer bool) [][]byte {
	q := s.Query
	if peer {
		q = s.PeerQuery
	}
	keys := s.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		b, err := json.Marshal(map[string]string{"query": strings.ReplaceAll(q, "$key", k)})
		if err != nil {
			panic(err) // strings always marshal
		}
		out = append(out, b)
	}
	return out
}

// withKeys is the scenario over many subjects: named S2u/K=n.
func (s scenario) withKeys(keys []string) scenario {
	s.Keys = keys
	s.Name = fmt.Sprintf("%s/K=%d", s.Name, len(keys))
	return s
}
