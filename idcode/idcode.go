// Package idcode validates the two identifiers that key every lookup: the citizen ID
// number (GB 11643-1999) and the unified social credit code (GB 32100-2015). Arguments are
// checked here before any department is called.
package idcode

import (
	"errors"
	"fmt"
)

// Errors name the rule an identifier broke, so a client can tell the user what to fix.
var (
	ErrIDLength      = errors.New("a citizen ID number has 18 characters (GB 11643)")
	ErrIDFormat      = errors.New("a citizen ID number is 17 digits followed by a digit or X (GB 11643)")
	ErrIDBirthDate   = errors.New("characters 7 to 14 of a citizen ID number must be a real birth date (GB 11643)")
	ErrIDCheckDigit  = errors.New("the check digit of the citizen ID number does not match (GB 11643)")
	ErrCodeLength    = errors.New("a unified social credit code has 18 characters (GB 32100)")
	ErrCodeCharset   = errors.New("a unified social credit code uses only digits and the capital letters except I, O, S, V and Z (GB 32100)")
	ErrCodeCheckChar = errors.New("the check character of the unified social credit code does not match (GB 32100)")
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// IDCheckDigit returns the GB 11643 check character for the first 17 digits of an ID
// number. It panics if the prefix is not 17 ASCII digits; callers validate first.
func IDCheckDigit(prefix17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		c := prefix17[i]
		if c < '0' || c > '9' {
			panic("idcode: ID prefix must be 17 digits")
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// ValidateIDNumber checks a citizen ID number: length, digits, a plausible birth date and
// the GB 11643 check digit. A lowercase x is not accepted: registries store X.
func ValidateIDNumber(id string) error {
	if len(id) != 18 {
		return ErrIDLength
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return ErrIDFormat
		}
	}
	last := id[17]
	if (last < '0' || last > '9') && last != 'X' {
		return ErrIDFormat
	}
	if !validDate(id[6:14]) {
		return ErrIDBirthDate
	}
	if IDCheckDigit(id[:17]) != last {
		return ErrIDCheckDigit
	}
	return nil
}

func validDate(s string) bool {
	y := atoi(s[0:4])
	m := atoi(s[4:6])
	d := atoi(s[6:8])
	if y < 1850 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// codeChars is the GB 32100 character set; a character's value is its index.
const codeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var codeWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

var codeValue = func() [256]int8 {
	var v [256]int8
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(codeChars); i++ {
		v[codeChars[i]] = int8(i)
	}
	return v
}()

// CreditCheckChar returns the GB 32100 check character for the first 17 characters of a
// unified social credit code. It panics on characters outside the code set.
func CreditCheckChar(prefix17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		v := codeValue[prefix17[i]]
		if v < 0 {
			panic(fmt.Sprintf("idcode: %q is not a credit code character", prefix17[i]))
		}
		sum += int(v) * codeWeights[i]
	}
	return codeChars[(31-sum%31)%31]
}

// ValidateCreditCode checks a unified social credit code: length, character set and the
// GB 32100 check character.
func ValidateCreditCode(code string) error {
	if len(code) != 18 {
		return ErrCodeLength
	}
	for i := 0; i < 18; i++ {
		if codeValue[code[i]] < 0 {
			return ErrCodeCharset
		}
	}
	if CreditCheckChar(code[:17]) != code[17] {
		return ErrCodeCheckChar
	}
	return nil
}

// IsIDNumber reports whether s has the shape of a citizen ID number (not whether it is
// valid): how a credit record's subject is told apart from an enterprise's code.
func IsIDNumber(s string) bool {
	return ValidateIDNumber(s) == nil
}

// HoldsPersonalIdentifier reports whether s holds a valid citizen ID number or a mainland
// mobile number (11 digits, 1 then 3 to 9, not part of a longer run of digits): what a
// string a client chose (a correlation id) must not carry into the gateway's logs.
// Random identifiers (UUIDs, hex) almost never do.
func HoldsPersonalIdentifier(s string) bool {
	for i := 0; i+18 <= len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' && ValidateIDNumber(s[i:i+18]) == nil {
			return true
		}
	}
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		if start := i - run; run == 11 && s[start] == '1' && s[start+1] >= '3' {
			return true
		}
		run = 0
	}
	return false
}
