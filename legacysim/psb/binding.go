package psb

import (
	"time"

	"pudong.gov.cn/gateway/config"
)

// Binding is the gateway's configuration for the registry at baseURL: exactly what a
// production YAML file says for the real system, so the demo exercises the same binding.
func Binding(baseURL string) config.Department {
	return config.Department{
		ID:          "psb",
		Name:        "上海市公安局浦东分局 人口信息管理系统",
		Protocol:    "soap",
		Endpoint:    baseURL + Path,
		Timeout:     3 * time.Second,
		Concurrency: 8,
		Operations: map[string]config.Operation{
			"person": {
				Batch: 1, // QueryPerson takes one ID per call
				Params: map[string]string{
					"action":           ActionQueryPerson,
					"namespace":        Namespace,
					"element":          "QueryPerson",
					"keyElement":       "SFZH",
					"result":           "Person",
					"errorCodeElement": "ErrorCode",
					"notFoundFault":    CodeNotFound,
					"keyField":         "idNumber",
				},
			},
		},
		Fields: []config.FieldMap{
			{From: "SFZH", To: "idNumber"},
			{From: "XM", To: "name"},
			{From: "XB", To: "gender", Code: "gender"},
			{From: "CSRQ", To: "birthDate", Date: "20060102"},
			{From: "MZ", To: "ethnicity", Code: "ethnicity"},
			{From: "HJDZ", To: "householdAddress"},
			{From: "LXDH", To: "phone"},
		},
		Codes: map[string]map[string]string{
			// GB/T 2261.1: 0 not known, 9 not stated; anything else is not a gender either.
			"gender":    {"1": "MALE", "2": "FEMALE", "0": "UNKNOWN", "9": "UNKNOWN", "*": "UNKNOWN"},
			"ethnicity": Ethnicities(),
		},
	}
}

// Ethnicities is the GB 3304 code table: the 56 ethnic groups by their two-digit codes,
// plus 97 (other, not identified) and 98 (Chinese nationals of foreign origin). It returns
// a fresh map each time so a caller may change its copy.
func Ethnicities() map[string]string {
	return map[string]string{
		"01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族",
		"06": "苗族", "07": "彝族", "08": "壮族", "09": "布依族", "10": "朝鲜族",
		"11": "满族", "12": "侗族", "13": "瑶族", "14": "白族", "15": "土家族",
		"16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族",
		"21": "佤族", "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族",
		"26": "东乡族", "27": "纳西族", "28": "景颇族", "29": "柯尔克孜族", "30": "土族",
		"31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族", "35": "撒拉族",
		"36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
		"41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族",
		"46": "德昂族", "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族",
		"51": "独龙族", "52": "鄂伦春族", "53": "赫哲族", "54": "门巴族", "55": "珞巴族",
		"56": "基诺族",
		"97": "其他", "98": "外国血统中国籍人士",
	}
}
