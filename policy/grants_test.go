package policy

import (
	"slices"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

func TestGrantIndexFind(t *testing.T) {
	expiredAt := now.Add(-time.Hour)
	idx := NewGrantIndex([]gateway.Grant{
		{ID: "old", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"A", "B"}, ValidUntil: expiredAt},
		{ID: "new", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"B", "C", "C"}},
		{ID: "until", Consumer: "supervision-platform", Purpose: "market-supervision", Codes: []string{"A"}, ValidUntil: now},
		{ID: "no-purpose", Consumer: "playground", Codes: []string{"A"}},
		{ID: "no-consumer", Purpose: "exploration", Codes: []string{"A"}},
	})
	tests := []struct {
		name                    string
		consumer, purpose, code string
		at                      time.Time
		want                    string // grant ID, "" for none
	}{
		{"active grant", "online-hall", "administrative-approval", "C", now, "new"},
		{"expired grant skipped for an active one", "online-hall", "administrative-approval", "B", now, "new"},
		{"first grant while both are in force", "online-hall", "administrative-approval", "B", expiredAt.Add(-time.Second), "old"},
		{"only grant expired", "online-hall", "administrative-approval", "A", now, ""},
		{"code not granted", "online-hall", "administrative-approval", "D", now, ""},
		{"another purpose", "online-hall", "exploration", "C", now, ""},
		{"another consumer", "playground", "administrative-approval", "C", now, ""},
		{"valid until is exclusive", "supervision-platform", "market-supervision", "A", now, ""},
		{"just before valid until", "supervision-platform", "market-supervision", "A", now.Add(-time.Nanosecond), "until"},
		{"grant without purpose never matches", "playground", "", "A", now, ""},
		{"grant without consumer never matches", "", "exploration", "A", now, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if g := idx.Find(tt.consumer, tt.purpose, tt.code, tt.at); g != nil {
				got = g.ID
			}
			if got != tt.want {
				t.Errorf("Find(%s, %s, %s) = %q, want %q", tt.consumer, tt.purpose, tt.code, got, tt.want)
			}
		})
	}
}

func TestGrantIndexRevocation(t *testing.T) {
	revokedAt := now.Add(-time.Minute)
	idx := NewGrantIndex([]gateway.Grant{
		{ID: "g", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"A"}, RevokedAt: &revokedAt},
	})
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before revocation", revokedAt.Add(-time.Second), true},
		{"at revocation", revokedAt, false},
		{"after revocation", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idx.Find("online-hall", "administrative-approval", "A", tt.at) != nil; got != tt.want {
				t.Errorf("found = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGrantIndexIsImmutable(t *testing.T) {
	revokedAt := now.Add(time.Hour)
	grants := []gateway.Grant{{ID: "g", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"A"}, RevokedAt: &revokedAt}}
	idx := NewGrantIndex(grants)

	grants[0].Codes[0] = "B"
	grants[0].Consumer = "playground"
	*grants[0].RevokedAt = now.Add(-time.Hour)
	if idx.Find("online-hall", "administrative-approval", "A", now) == nil {
		t.Fatal("changing the input after NewGrantIndex changed the index")
	}

	listed := idx.ForConsumer("online-hall", now)
	listed[0].Codes[0] = "Z"
	*listed[0].RevokedAt = now.Add(-time.Hour)
	if g := idx.Find("online-hall", "administrative-approval", "A", now); g == nil || g.Codes[0] != "A" {
		t.Fatal("changing a grant returned by ForConsumer changed the index")
	}
}

func TestGrantIndexForConsumer(t *testing.T) {
	revokedAt := now.Add(-time.Hour)
	idx := NewGrantIndex([]gateway.Grant{
		{ID: "g1", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"A"}},
		{ID: "g2", Consumer: "online-hall", Purpose: "other", Codes: []string{"B"}},
		{ID: "expired", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"C"}, ValidUntil: now.Add(-time.Second)},
		{ID: "revoked", Consumer: "online-hall", Purpose: "administrative-approval", Codes: []string{"D"}, RevokedAt: &revokedAt},
		{ID: "other", Consumer: "playground", Purpose: "exploration", Codes: []string{"A"}},
	})
	tests := []struct {
		consumer string
		want     []string
	}{
		{"online-hall", []string{"g1", "g2"}},
		{"playground", []string{"other"}},
		{"supervision-platform", nil},
	}
	for _, tt := range tests {
		t.Run(tt.consumer, func(t *testing.T) {
			var got []string
			for _, g := range idx.ForConsumer(tt.consumer, now) {
				got = append(got, g.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ForConsumer = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNilGrantIndex(t *testing.T) {
	var idx *GrantIndex
	if g := idx.Find("online-hall", "administrative-approval", "A", now); g != nil {
		t.Errorf("nil index found %v", g)
	}
	if gs := idx.ForConsumer("online-hall", now); gs != nil {
		t.Errorf("nil index listed %v", gs)
	}
	if d := Decide(playground, &psbName, Subject{}, idx, now); d.Outcome != gateway.Masked {
		t.Errorf("Decide with a nil index = %v, want MASK", d)
	}
}
