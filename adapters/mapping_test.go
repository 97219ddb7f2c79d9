package adapters

import (
	"errors"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
)

func TestMappingApply(t *testing.T) {
	m, err := NewMapping([]config.FieldMap{
		{From: "SFZH", To: "idNumber"},
		{From: "XB", To: "gender", Code: "gender"},
		{From: "CSRQ", To: "birthDate", Date: "20060102"},
		{From: "SCCBNY", To: "since", Month: "200601"},
		{From: "zczb", To: "registeredCapital", Scale: "10000"},
		{From: "LXDH", To: "phone"},
	}, map[string]map[string]string{"gender": {"1": "MALE", "2": "FEMALE", "*": "UNKNOWN"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Apply(map[string]string{"SFZH": "310115198503120012", "XB": "1", "CSRQ": "19850312",
		"SCCBNY": "201605", "zczb": "500.0000", "LXDH": " "})
	if err != nil {
		t.Fatal(err)
	}
	want := Record{"idNumber": "310115198503120012", "gender": "MALE", "birthDate": "1985-03-12",
		"since": "2016-05", "registeredCapital": "5000000.00"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if r, _ := m.Apply(map[string]string{"XB": "9"}); r["gender"] != "UNKNOWN" {
		t.Errorf("default code: %v", r)
	}
	for _, bad := range []map[string]string{{"CSRQ": "1985-03-12"}, {"zczb": "五百"}, {"zczb": "1e999999"}, {"zczb": "1/3"}, {"SCCBNY": "2016"}} {
		if _, err := m.Apply(bad); !errors.Is(err, ErrBadResponse) {
			t.Errorf("Apply(%v) = %v, want ErrBadResponse", bad, err)
		}
	}
}

func TestNewMappingReportsEveryMistake(t *testing.T) {
	_, err := NewMapping([]config.FieldMap{
		{From: "A", To: "a", Code: "missing"},
		{From: "B", To: "a"},
		{From: "C", To: "c", Date: "2006", Scale: "10"},
		{From: "D", To: "d", Scale: "x"},
	}, nil)
	if err == nil {
		t.Fatal("want error")
	}
	for _, s := range []string{`"missing"`, `"a" is mapped twice`, "at most one", `"x" is not a number`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}
