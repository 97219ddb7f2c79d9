package policy

import (
	"strings"
	"unicode/utf8"

	"pudong.gov.cn/gateway"
)

// MaskValue de-identifies v with mask m. An empty value stays empty (there is nothing to
// hide, and "no phone on file" must still read as such). Every mask is fail-safe: a
// non-empty value never comes back whole, a value a mask cannot parse comes back as
// stars, and an unknown mask (or MaskNone, which should never reach here) stars
// everything. Invalid UTF-8 is handled rune by rune and never passed through.
func MaskValue(m gateway.Mask, v string) string {
	if v == "" {
		return ""
	}
	switch m {
	case gateway.MaskID:
		return MaskIDNumber(v)
	case gateway.MaskName:
		return MaskName(v)
	case gateway.MaskPhone:
		return MaskPhone(v)
	case gateway.MaskYear:
		return MaskYear(v)
	case gateway.MaskDistrict:
		return MaskDistrict(v)
	}
	return stars(v)
}

// MaskIDNumber keeps the first 6 characters (the region of registration) and the last 4
// of an ID number: 310115198503120012 → 310115********0012. A value too short to keep
// both and still hide something is starred whole.
func MaskIDNumber(v string) string { return keepEnds(v, 6, 4) }

// MaskName keeps the first character of a name and stars the rest, one star per
// character, so the length of the name shows but not the name: 张伟 → 张*, 欧阳娜娜 → 欧***.
// A one-character name becomes *.
func MaskName(v string) string { return keepEnds(v, 1, 0) }

// MaskPhone keeps the first 3 and last 4 characters of a phone number: 13812345678 →
// 138****5678. A number with fewer than 8 digits would show nearly all of itself that
// way, so it is starred whole.
func MaskPhone(v string) string {
	digits := 0
	for _, r := range v {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits < 8 {
		return stars(v)
	}
	return keepEnds(v, 3, 4)
}

// MaskYear cuts an ISO 8601 date (1985-03-12) to its year (1985). Anything else is starred
// whole: a mask that cannot find the year must not guess.
func MaskYear(v string) string {
	if len(v) > 5 && v[4] == '-' && isDigits(v[:4]) {
		return v[:4]
	}
	return stars(v)
}

// MaskDistrict cuts a Chinese address to its district: 上海市浦东新区陆家嘴街道银城中路168弄3号1202室
// → 上海市浦东新区. It skips the province (省, 自治区, 特别行政区) and the city (市, 自治州,
// 地区, 盟) and cuts after the first 区 or 县 that follows. Without a district it keeps
// the first 6 characters; it never returns the whole address, cutting back to the
// province and city when the address is nothing but a district.
func MaskDistrict(v string) string {
	rs := []rune(v)
	n := len(rs)
	if n <= 1 {
		return stars(v)
	}
	p := skipLevel(rs, 0, "省", "自治区", "特别行政区")
	p = skipLevel(rs, p, "市", "自治州", "地区", "盟")
	cut := min(6, n-1)
	if d := indexAny(rs, p, "区", "县"); d >= 0 {
		switch end := d + 1; {
		case end < n:
			cut = end
		case p > 0:
			cut = p
		}
	}
	return runesString(rs[:cut])
}

// skipLevel returns the position just past the first of markers found at or after p,
// provided it comes before the first district marker; otherwise p. That keeps a 市 in a
// street name (…区…市场路) from being taken for the city.
func skipLevel(rs []rune, p int, markers ...string) int {
	district := indexAny(rs, p, "区", "县")
	best, bestEnd := -1, p
	for _, m := range markers {
		i := index(rs, p, m)
		if i < 0 || (district >= 0 && i > district) {
			continue
		}
		if best < 0 || i < best {
			best, bestEnd = i, i+utf8.RuneCountInString(m)
		}
	}
	return bestEnd
}

// indexAny is the first position at or after from where one of markers starts, or -1.
func indexAny(rs []rune, from int, markers ...string) int {
	first := -1
	for _, m := range markers {
		if i := index(rs, from, m); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}

// index is the first position at or after from where marker starts in rs, or -1.
func index(rs []rune, from int, marker string) int {
	mr := []rune(marker)
	for i := from; i+len(mr) <= len(rs); i++ {
		match := true
		for j, r := range mr {
			if rs[i+j] != r {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// keepEnds keeps the first head and last tail characters of v and stars the ones between,
// one star per character. A value with nothing left to hide between the kept ends is
// starred whole.
func keepEnds(v string, head, tail int) string {
	n := utf8.RuneCountInString(v)
	if n <= head+tail {
		return stars(v)
	}
	var b strings.Builder
	b.Grow(len(v))
	i := 0
	for _, r := range v {
		if i < head || i >= n-tail {
			writeVisible(&b, r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

// runesString is string(rs) with anything that was not valid UTF-8 starred.
func runesString(rs []rune) string {
	var b strings.Builder
	for _, r := range rs {
		writeVisible(&b, r)
	}
	return b.String()
}

// writeVisible writes a kept character; a byte that was not valid UTF-8 decodes to
// utf8.RuneError and is written as a star, so masked output is always valid UTF-8.
func writeVisible(b *strings.Builder, r rune) {
	if r == utf8.RuneError {
		b.WriteByte('*')
		return
	}
	b.WriteRune(r)
}

// stars replaces every character of v with one star.
func stars(v string) string { return strings.Repeat("*", utf8.RuneCountInString(v)) }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
