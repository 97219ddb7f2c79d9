package audit_test

import (
	"reflect"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

// The hash of one event, frozen: `gateway audit verify` and every chain already stored
// depend on the encoding, so a change to it must be deliberate (a new format tag) and
// will fail here.
func TestComputeHashIsStable(t *testing.T) {
	e := sample()
	// Also computed independently from the encoding docs/audit.md documents (Python hashlib).
	const want = "d86f5fcf7eef9e45d2934beaece23fad73f2b46cd716f52a6471e46fc5fb66ff"
	if got := e.ComputeHash(); got != want {
		t.Errorf("ComputeHash = %s, want %s", got, want)
	}
	// Events written before v2 keep their hash: the v1 encoding is frozen too.
	const wantV1 = "2b0ea05ff37e8e78afed3ef371d21de049887b0178bddb34b128db3119929656"
	if got := e.ComputeHashV1(); got != wantV1 {
		t.Errorf("ComputeHashV1 = %s, want %s", got, wantV1)
	}
}

func sample() gateway.AuditEvent {
	return gateway.AuditEvent{
		Seq:             42,
		At:              time.Date(2026, 11, 27, 3, 4, 5, 123000000, time.UTC),
		Consumer:        "online-hall",
		EndUser:         "clerk-7",
		Purpose:         "administrative-approval",
		RequestID:       "req-0001",
		ClientRequestID: "client-abc",
		TraceID:         "4bf92f3577b34da6a3ce929d0e0e4736",
		Chain:           "replica-a",
		Code:            "310115-PSB-RK01-002",
		Owner:           "psb",
		Subject:         "310115198503120012",
		Decision:        gateway.Masked,
		GrantID:         "GR-20261127-7KQ2M9XDA3",
		PrevHash:        "5f0c1d6a4bc9e4b1b1f3b53bb7e1a46ab3a5e6a0f4f4d1e1b0c0a0d1e2f30405",
	}
}

func TestComputeHashCoversEveryField(t *testing.T) {
	base := sample()
	changes := map[string]func(e *gateway.AuditEvent){
		"Seq":             func(e *gateway.AuditEvent) { e.Seq++ },
		"At":              func(e *gateway.AuditEvent) { e.At = e.At.Add(time.Microsecond) },
		"Consumer":        func(e *gateway.AuditEvent) { e.Consumer = "playground" },
		"EndUser":         func(e *gateway.AuditEvent) { e.EndUser = "clerk-8" },
		"Purpose":         func(e *gateway.AuditEvent) { e.Purpose = "exploration" },
		"RequestID":       func(e *gateway.AuditEvent) { e.RequestID = "req-0002" },
		"ClientRequestID": func(e *gateway.AuditEvent) { e.ClientRequestID = "client-abd" },
		"TraceID":         func(e *gateway.AuditEvent) { e.TraceID = "" },
		"Chain":           func(e *gateway.AuditEvent) { e.Chain = "" },
		"Code":            func(e *gateway.AuditEvent) { e.Code = "310115-PSB-RK01-003" },
		"Owner":           func(e *gateway.AuditEvent) { e.Owner = "amr" },
		"Subject":         func(e *gateway.AuditEvent) { e.Subject = "310115199001010029" },
		"Decision":        func(e *gateway.AuditEvent) { e.Decision = gateway.Allow },
		"GrantID":         func(e *gateway.AuditEvent) { e.GrantID = "" },
		"PrevHash":        func(e *gateway.AuditEvent) { e.PrevHash = "" },
	}
	for name, change := range changes {
		e := base
		change(&e)
		if e.ComputeHash() == base.ComputeHash() {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	// A field added to AuditEvent must be added to the hash (a new format) and here.
	for i := range reflect.TypeFor[gateway.AuditEvent]().NumField() {
		if f := reflect.TypeFor[gateway.AuditEvent]().Field(i); f.Name != "Hash" && changes[f.Name] == nil {
			t.Errorf("AuditEvent.%s: no case here shows the hash covers it", f.Name)
		}
	}
	e := base
	e.Hash = "anything"
	if e.ComputeHash() != base.ComputeHash() {
		t.Error("the hash depends on the Hash field itself")
	}
}

func TestComputeHashIsUnambiguous(t *testing.T) {
	a, b := sample(), sample()
	a.Consumer, a.EndUser = "online-hall", "clerk"
	b.Consumer, b.EndUser = "online-hallclerk", ""
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("moving bytes from one field to the next keeps the hash")
	}
}

func TestComputeHashUsesTheInstant(t *testing.T) {
	a, b := sample(), sample()
	b.At = a.At.In(time.FixedZone("CST", 8*60*60))
	if a.ComputeHash() != b.ComputeHash() {
		t.Error("the same instant in another time zone hashes differently")
	}
}
