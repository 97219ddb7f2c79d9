package policy

import (
	"strings"
	"testing"
	"unicode/utf8"

	"pudong.gov.cn/gateway"
)

func TestMaskValue(t *testing.T) {
	tests := []struct {
		name string
		mask gateway.Mask
		in   string
		want string
	}{
		// ID numbers of the demo fixtures (docs/architecture.md, Demo data).
		{"id 张伟", gateway.MaskID, "310115198503120012", "310115********0012"},
		{"id 李娜", gateway.MaskID, "310115199001010029", "310115********0029"},
		{"id 王强", gateway.MaskID, "310115197811200036", "310115********0036"},
		{"id 陈静", gateway.MaskID, "310115200107150041", "310115********0041"},
		{"id 刘洋", gateway.MaskID, "310115196202280056", "310115********0056"},
		{"id with X check digit", gateway.MaskID, "11010519491231002X", "110105********002X"},
		{"id of 15 digits", gateway.MaskID, "310115850312001", "310115*****2001"},
		{"id too short to keep both ends", gateway.MaskID, "3101150012", "**********"},
		{"id of 11 characters", gateway.MaskID, "31011510012", "310115*0012"},

		// Names: one, two, three and four characters.
		{"name 张伟", gateway.MaskName, "张伟", "张*"},
		{"name 李娜", gateway.MaskName, "李娜", "李*"},
		{"name 王强", gateway.MaskName, "王强", "王*"},
		{"name 陈静", gateway.MaskName, "陈静", "陈*"},
		{"name 刘洋", gateway.MaskName, "刘洋", "刘*"},
		{"name of one character", gateway.MaskName, "晗", "*"},
		{"name of three characters", gateway.MaskName, "欧阳娜", "欧**"},
		{"name of four characters", gateway.MaskName, "欧阳娜娜", "欧***"},
		{"name with a middle dot", gateway.MaskName, "阿依·买买提", "阿*****"},
		{"latin name", gateway.MaskName, "Li Na", "L****"},

		// Phones of the fixtures; 陈静 has none on file.
		{"phone 张伟", gateway.MaskPhone, "13812345678", "138****5678"},
		{"phone 李娜", gateway.MaskPhone, "13987654321", "139****4321"},
		{"phone 王强", gateway.MaskPhone, "13601234567", "136****4567"},
		{"phone 陈静 none on file", gateway.MaskPhone, "", ""},
		{"phone 刘洋", gateway.MaskPhone, "13501112233", "135****2233"},
		{"landline with area code", gateway.MaskPhone, "021-58881234", "021*****1234"},
		{"phone of 8 digits", gateway.MaskPhone, "58881234", "588*1234"},
		{"phone of 7 digits", gateway.MaskPhone, "5888123", "*******"},
		{"phone padded to 8 characters with 7 digits", gateway.MaskPhone, "588-8123", "********"},

		// Birth dates of the fixtures.
		{"year 张伟", gateway.MaskYear, "1985-03-12", "1985"},
		{"year 李娜", gateway.MaskYear, "1990-01-01", "1990"},
		{"year 王强", gateway.MaskYear, "1978-11-20", "1978"},
		{"year 陈静", gateway.MaskYear, "2001-07-15", "2001"},
		{"year 刘洋", gateway.MaskYear, "1962-02-28", "1962"},
		{"year of a timestamp", gateway.MaskYear, "1985-03-12T00:00:00Z", "1985"},
		{"year of a legacy date is not guessed", gateway.MaskYear, "19850312", "********"},
		{"a bare year is not returned whole", gateway.MaskYear, "1985", "****"},
		{"year of a non-date", gateway.MaskYear, "三月十二日", "*****"},

		// Household addresses of the fixtures.
		{"address 张伟", gateway.MaskDistrict, "上海市浦东新区陆家嘴街道银城中路168弄3号1202室", "上海市浦东新区"},
		{"address 李娜", gateway.MaskDistrict, "上海市浦东新区花木街道锦绣路1001弄12号502室", "上海市浦东新区"},
		{"address 王强", gateway.MaskDistrict, "上海市浦东新区洋泾街道崂山路520号6楼", "上海市浦东新区"},
		{"address 陈静", gateway.MaskDistrict, "上海市浦东新区张江镇祖冲之路887弄7号301室", "上海市浦东新区"},
		{"address 刘洋", gateway.MaskDistrict, "上海市浦东新区川沙新镇新川路215号", "上海市浦东新区"},
		{"province, city and district", gateway.MaskDistrict, "广东省深圳市南山区粤海街道科技园", "广东省深圳市南山区"},
		{"county", gateway.MaskDistrict, "浙江省杭州市桐庐县城南街道", "浙江省杭州市桐庐县"},
		{"autonomous region is not a district", gateway.MaskDistrict, "新疆维吾尔自治区乌鲁木齐市天山区解放南路", "新疆维吾尔自治区乌鲁木齐市天山区"},
		{"district without city", gateway.MaskDistrict, "浦东新区世纪大道100号", "浦东新区"},
		{"a 市 after the district is not the city", gateway.MaskDistrict, "浦东新区南市街28号", "浦东新区"},
		{"no district marker keeps 6 characters", gateway.MaskDistrict, "江苏省苏州市昆山市玉山镇", "江苏省苏州市"},
		{"only a district cuts back to the city", gateway.MaskDistrict, "上海市浦东新区", "上海市"},
		{"short address without marker", gateway.MaskDistrict, "南市街", "南市"},
		{"one character", gateway.MaskDistrict, "沪", "*"},

		// Fail-safe.
		{"unknown mask stars everything", gateway.Mask("initials"), "张伟", "**"},
		{"no mask stars everything", gateway.MaskNone, "13812345678", "***********"},
		{"empty stays empty", gateway.MaskName, "", ""},
		{"invalid UTF-8 in a kept character", gateway.MaskName, "\xff伟", "**"},
		{"invalid UTF-8 in an address", gateway.MaskDistrict, "上海\xff市浦东新区陆家嘴", "上海*市浦东新区"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskValue(tt.mask, tt.in); got != tt.want {
				t.Errorf("MaskValue(%q, %q) = %q, want %q", tt.mask, tt.in, got, tt.want)
			}
		})
	}
}

// FuzzMask checks what every mask promises for any input: no panic, valid UTF-8 out, no
// longer than the input, empty for empty, and strictly less of the value shown than was
// given (so never the value itself).
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		"310115198503120012", "张伟", "欧阳娜娜", "13812345678", "1985-03-12",
		"上海市浦东新区陆家嘴街道银城中路168弄3号1202室", "上海市浦东新区", "区", "市区县省",
		"", "a", "\xff\xfe", "1985-", "新疆维吾尔自治区", "\u00a0\u200b",
	} {
		f.Add(s)
	}
	masks := []gateway.Mask{gateway.MaskID, gateway.MaskName, gateway.MaskPhone, gateway.MaskYear, gateway.MaskDistrict, gateway.MaskNone, "bogus"}
	f.Fuzz(func(t *testing.T, in string) {
		for _, m := range masks {
			out := MaskValue(m, in)
			if !utf8.ValidString(out) {
				t.Fatalf("MaskValue(%q, %q) = %q: not valid UTF-8", m, in, out)
			}
			if utf8.RuneCountInString(out) > utf8.RuneCountInString(in) {
				t.Fatalf("MaskValue(%q, %q) = %q: longer than the input", m, in, out)
			}
			if in == "" {
				if out != "" {
					t.Fatalf("MaskValue(%q, \"\") = %q, want empty", m, out)
				}
				continue
			}
			// An input that already holds stars can legitimately come back as itself
			// (a value masked twice); any other must show strictly less than it had.
			if !strings.Contains(in, "*") && shown(out) >= shown(in) {
				t.Fatalf("MaskValue(%q, %q) = %q: shows %d of %d characters", m, in, out, shown(out), shown(in))
			}
		}
	})
}

// shown counts the characters of s that are not stars.
func shown(s string) int { return utf8.RuneCountInString(s) - strings.Count(s, "*") }

func BenchmarkMask(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		MaskValue(gateway.MaskID, "310115198503120012")
		MaskValue(gateway.MaskName, "欧阳娜娜")
		MaskValue(gateway.MaskPhone, "13812345678")
		MaskValue(gateway.MaskYear, "1985-03-12")
		MaskValue(gateway.MaskDistrict, "上海市浦东新区陆家嘴街道银城中路168弄3号1202室")
	}
}
