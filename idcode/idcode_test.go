package idcode

import (
	"errors"
	"testing"
)

func TestValidateIDNumber(t *testing.T) {
	tests := []struct {
		id   string
		want error
	}{
		{"310115198503120012", nil},
		{"310115199001010029", nil},
		{"310115197811200036", nil},
		{"310115200107150041", nil},
		{"310115196202280056", nil},
		{"310115199912310073", nil},
		{"11010519491231002X", nil},
		{"310115198503120013", ErrIDCheckDigit},
		{"31011519850312001", ErrIDLength},
		{"3101151985031200123", ErrIDLength},
		{"", ErrIDLength},
		{"31011519850312001x", ErrIDFormat},
		{"3101151985A3120012", ErrIDFormat},
		{"310115198513120012", ErrIDBirthDate},
		{"310115190002290012", ErrIDBirthDate}, // 1900 is not a leap year
		{"310115198503320012", ErrIDBirthDate},
	}
	for _, tt := range tests {
		if got := ValidateIDNumber(tt.id); !errors.Is(got, tt.want) {
			t.Errorf("ValidateIDNumber(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestValidateCreditCode(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"91310115MA1FL0AB0P", nil},
		{"91310115607223817N", nil},
		{"91310115MA1K4C7D24", nil},
		{"92310115MA1P3Q8R06", nil},
		{"91310115MA1HW2X39Q", nil},
		{"91310115MA1FL0AB0Q", ErrCodeCheckChar},
		{"91310115MA1FL0AB0", ErrCodeLength},
		{"91310115MA1FL0AB0I", ErrCodeCharset},
		{"91310115ma1fl0ab0p", ErrCodeCharset},
		{"9131011 MA1FL0AB0P", ErrCodeCharset},
	}
	for _, tt := range tests {
		if got := ValidateCreditCode(tt.code); !errors.Is(got, tt.want) {
			t.Errorf("ValidateCreditCode(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestCheckCharacters(t *testing.T) {
	if got := IDCheckDigit("31011519850312001"); got != '2' {
		t.Errorf("IDCheckDigit = %c, want 2", got)
	}
	if got := CreditCheckChar("91310115MA1FL0AB0"); got != 'P' {
		t.Errorf("CreditCheckChar = %c, want P", got)
	}
}

// FuzzValidators checks that the validators never panic and agree with their own check
// characters: a value accepted has the check character its prefix computes.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"310115198503120012", "310115198503120013", "11010519491231002X", "91310115MA1FL0AB0P",
		"92310115MA1P3Q8R06", "", "x", "3101151985031200\xff2", "９１３１０１１５ＭＡ１ＦＬ０ＡＢ０Ｐ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateIDNumber(s) == nil && IDCheckDigit(s[:17]) != s[17] {
			t.Fatalf("accepted %q with a wrong check digit", s)
		}
		if ValidateCreditCode(s) == nil && CreditCheckChar(s[:17]) != s[17] {
			t.Fatalf("accepted %q with a wrong check character", s)
		}
		_ = IsIDNumber(s)
		if ValidateIDNumber(s) == nil && !HoldsPersonalIdentifier("id-"+s+"-x") {
			t.Fatalf("%q is an ID number, yet a string holding it is not found to", s)
		}
	})
}

// TestHoldsPersonalIdentifier: an ID number or a mobile number anywhere in a string is
// found; random identifiers and numbers of other lengths are not.
func TestHoldsPersonalIdentifier(t *testing.T) {
	for s, want := range map[string]bool{
		"310115198503120012":                   true,
		"req-310115198503120012-1":             true,
		"portal_13812345678":                   true,
		"13812345678":                          true,
		"550e8400-e29b-41d4-a716-446655440000": false,
		"0af7651916cd43dd8448eb211c80319c":     false,
		"310115198503120013":                   false, // the check digit does not match
		"order-2026120412345":                  false,
		"12812345678":                          false, // not a mobile prefix
		"138123456789":                         false, // twelve digits
		"":                                     false,
	} {
		if got := HoldsPersonalIdentifier(s); got != want {
			t.Errorf("HoldsPersonalIdentifier(%q) = %v, want %v", s, got, want)
		}
	}
}
