package dataset

// The fixtures of docs/architecture.md (Demo data), by name, for tests.
const (
	ZhangWei  = "310115198503120012"
	LiNa      = "310115199001010029"
	WangQiang = "310115197811200036"
	ChenJing  = "310115200107150041"
	LiuYang   = "310115196202280056"
	// Unregistered has a valid check digit but is not in the population registry.
	Unregistered = "310115199912310073"
	// InvalidID is the standard ID number with a bad check digit.
	InvalidID = "310115198503120013"

	E1 = "91310115MA1FL0AB0P"
	E2 = "91310115607223817N"
	E3 = "91310115MA1K4C7D24"
	E4 = "92310115MA1P3Q8R06"
	E5 = "91310115MA1HW2X39Q"
)

func fixturePersons() []Person {
	return []Person{
		{ZhangWei, "张伟", "1", "19850312", "01", "上海市浦东新区陆家嘴街道银城中路168弄3号1202室", "13812345678"},
		{LiNa, "李娜", "2", "19900101", "01", "上海市浦东新区花木街道锦绣路1001弄12号502室", "13987654321"},
		{WangQiang, "王强", "1", "19781120", "01", "上海市浦东新区洋泾街道崂山路520号6楼", "13601234567"},
		{ChenJing, "陈静", "2", "20010715", "01", "上海市浦东新区张江镇祖冲之路887弄7号301室", ""},
		{LiuYang, "刘洋", "1", "19620228", "01", "上海市浦东新区川沙新镇新川路215号", "13501112233"},
	}
}

func fixtureEnterprises() []Enterprise {
	return []Enterprise{
		{E1, "上海浦江智联科技有限公司", "张伟", ZhangWei, "500.0000", "2016-04-18", "1",
			"从事信息科技领域内的技术开发、技术咨询、技术服务；软件开发；计算机系统集成。", "上海市浦东新区张江镇碧波路690号4幢301室"},
		{E2, "上海东岸食品有限公司", "王强", WangQiang, "200.0000", "1994-09-01", "1",
			"食品生产；食品经营；餐饮管理。", "上海市浦东新区洋泾街道东方路1267号"},
		{E3, "上海陆家嘴餐饮管理有限公司", "王强", WangQiang, "100.0000", "2015-06-10", "2",
			"餐饮管理；餐饮服务；食品经营（销售预包装食品）。", "上海市浦东新区陆家嘴街道浦东南路360号"},
		{E4, "浦东新区老街坊便利店", "刘洋", LiuYang, "5.0000", "2018-03-22", "1",
			"食品经营；日用百货销售；烟草制品零售。", "上海市浦东新区川沙新镇南市街28号"},
		{E5, "上海临港数联信息有限公司", "赵磊", Unregistered, "1000.0000", "2021-11-08", "1",
			"数据处理和存储支持服务；信息系统集成服务；物联网技术服务。", "上海市浦东新区南汇新城镇环湖西二路888号"},
	}
}

func fixtureCredit() []CreditRecord {
	return []CreditRecord{
		{ID: "XK-F00001", Kind: KindLicense, SubjectID: E1, SubjectName: "上海浦江智联科技有限公司",
			DecisionNumber: "沪通信管〔2017〕0418号", Title: "增值电信业务经营许可证",
			Content:   "准予经营第二类增值电信业务中的信息服务业务（仅限互联网信息服务）。",
			DecidedOn: "2017-04-18", ValidUntil: "2027-04-17", IssuedBy: "上海市通信管理局"},
		{ID: "HM-F00001", Kind: KindCommendation, SubjectID: E1, SubjectName: "上海浦江智联科技有限公司",
			DecisionNumber: "浦府〔2023〕56号", Title: "浦东新区守合同重信用企业",
			Content:   "连续三年履约守信，评为浦东新区守合同重信用企业。",
			DecidedOn: "2023-05-20", ValidUntil: "2026-12-31", IssuedBy: "上海市浦东新区人民政府"},
		{ID: "CF-F00001", Kind: KindPenalty, SubjectID: E2, SubjectName: "上海东岸食品有限公司",
			DecisionNumber: "浦市监处〔2024〕1032号", Title: "食品安全行政处罚",
			Content:   "生产经营不符合食品安全标准的食品，依据《中华人民共和国食品安全法》第一百二十四条，罚款人民币伍万元。",
			DecidedOn: "2024-08-15", IssuedBy: "上海市浦东新区市场监督管理局", PenaltyAmount: "50000.00"},
		{ID: "HM-F00002", Kind: KindCommendation, SubjectID: LiNa, SubjectName: "李娜",
			DecisionNumber: "浦文明〔2022〕18号", Title: "浦东新区优秀志愿者",
			Content:   "长期参与社区志愿服务，累计服务时长超过一千小时。",
			DecidedOn: "2022-12-05", IssuedBy: "上海市浦东新区精神文明建设委员会办公室"},
		{ID: "SX-F00001", Kind: KindDishonesty, SubjectID: WangQiang, SubjectName: "王强",
			DecisionNumber: "（2023）沪0115执1234号", Title: "失信被执行人",
			Content:   "有履行能力而拒不履行生效法律文书确定的给付义务。",
			DecidedOn: "2023-03-01", IssuedBy: "上海市浦东新区人民法院"},
		{ID: "SX-F00002", Kind: KindDishonesty, SubjectID: E3, SubjectName: "上海陆家嘴餐饮管理有限公司",
			DecisionNumber: "浦市监列〔2022〕77号", Title: "严重违法失信名单",
			Content:   "被吊销营业执照后未依法办理注销登记，列入严重违法失信名单。",
			DecidedOn: "2022-10-12", ValidUntil: "2027-10-11", IssuedBy: "上海市浦东新区市场监督管理局"},
	}
}

func fixtureInsurance() []Insurance {
	return []Insurance{
		{ZhangWei, "张伟", E1, InsPension, InsStatusActive, "201605", lastExportMonth},
		{ZhangWei, "张伟", E1, InsMedical, InsStatusActive, "201605", lastExportMonth},
		{LiNa, "李娜", E2, InsPension, InsStatusActive, "201207", lastExportMonth},
		{LiNa, "李娜", E2, InsMedical, InsStatusActive, "201207", lastExportMonth},
		{WangQiang, "王强", E2, InsPension, InsStatusActive, "200503", lastExportMonth},
		{ChenJing, "陈静", E1, InsPension, InsStatusActive, "202309", lastExportMonth},
		{ChenJing, "陈静", E1, InsMedical, InsStatusActive, "202309", lastExportMonth},
		{ChenJing, "陈静", E1, InsUnemployment, InsStatusActive, "202309", lastExportMonth},
		{LiuYang, "刘洋", "", InsPension, InsStatusActive, "201001", lastExportMonth},
	}
}

// lastExportMonth is the month the synthetic exports were last paid up to.
const lastExportMonth = "202610"
