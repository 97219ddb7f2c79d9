package dataset

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"pudong.gov.cn/gateway/idcode"
)

// Generate builds the dataset for a seed and size: the fixtures first, then the bulk
// records. The same seed and size always give the same data.
func Generate(seed uint64, size Size) *Dataset {
	g := &generator{
		rnd:      rand.New(rand.NewPCG(seed, seed^0x5eed)),
		usedIDs:  map[string]bool{},
		usedCode: map[string]bool{},
	}
	ds := &Dataset{
		Persons:     fixturePersons(),
		Enterprises: fixtureEnterprises(),
		Credit:      fixtureCredit(),
		Insurance:   fixtureInsurance(),
	}
	for _, p := range ds.Persons {
		g.usedIDs[p.IDNumber] = true
	}
	g.usedIDs[Unregistered] = true
	for _, e := range ds.Enterprises {
		g.usedCode[e.CreditCode] = true
	}

	people := make([]Person, 0, size.Citizens)
	for i := 0; i < size.Citizens; i++ {
		people = append(people, g.person())
	}
	ds.Persons = append(ds.Persons, people...)

	firms := make([]Enterprise, 0, size.Enterprises)
	for i := 0; i < size.Enterprises; i++ {
		var rep Person
		if len(people) > 0 {
			rep = people[g.rnd.IntN(len(people))]
		} else {
			rep = ds.Persons[i%5]
		}
		firms = append(firms, g.enterprise(rep))
	}
	ds.Enterprises = append(ds.Enterprises, firms...)

	for i := 0; i < size.CreditRecords; i++ {
		var subjectID, subjectName string
		if len(firms) > 0 && (len(people) == 0 || g.rnd.IntN(3) > 0) {
			e := firms[g.rnd.IntN(len(firms))]
			subjectID, subjectName = e.CreditCode, e.Name
		} else if len(people) > 0 {
			p := people[g.rnd.IntN(len(people))]
			subjectID, subjectName = p.IDNumber, p.Name
		} else {
			break
		}
		ds.Credit = append(ds.Credit, g.credit(i+1, subjectID, subjectName))
	}

	// Social-insurance rows come from their own random stream, so that a dataset too
	// large to hold them (StreamAbove) can write the same rows while its export is
	// written, one person at a time.
	ds.bulk = &bulkInsurance{seed: seed, persons: len(ds.Persons) - len(people), firms: len(ds.Enterprises) - len(firms)}
	if size.Citizens <= StreamAbove {
		ds.bulk.each(ds, func(r Insurance) error {
			ds.Insurance = append(ds.Insurance, r)
			return nil
		})
		ds.bulk = nil
	}
	return ds
}

// StreamAbove is the number of citizens above which Generate does not hold the bulk
// social-insurance rows (about 2.6 a citizen, 15 million for the district's 5.7
// million): Dataset.EachInsurance generates them as they are written.
const StreamAbove = 1_000_000

// bulkInsurance says where the bulk persons and enterprises start in a Dataset whose
// bulk insurance rows are generated on demand.
type bulkInsurance struct {
	seed           uint64
	persons, firms int
}

func (b *bulkInsurance) each(ds *Dataset, fn func(Insurance) error) error {
	g := &generator{rnd: rand.New(rand.NewPCG(b.seed^0x1115, b.seed))}
	firms := ds.Enterprises[b.firms:]
	for _, p := range ds.Persons[b.persons:] {
		for _, r := range g.insurance(p, firms) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// EachInsurance calls fn with every social-insurance row, in export order: the rows of
// Insurance, then, for a dataset above StreamAbove, the bulk rows generated one person
// at a time, so that memory does not grow with them. It stops at fn's first error.
func (ds *Dataset) EachInsurance(fn func(Insurance) error) error {
	for _, r := range ds.Insurance {
		if err := fn(r); err != nil {
			return err
		}
	}
	if ds.bulk != nil {
		return ds.bulk.each(ds, fn)
	}
	return nil
}

type generator struct {
	rnd      *rand.Rand
	usedIDs  map[string]bool
	usedCode map[string]bool
}

func (g *generator) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

func (g *generator) person() Person {
	for {
		year := 1940 + g.rnd.IntN(66)
		month := 1 + g.rnd.IntN(12)
		day := 1 + g.rnd.IntN(28)
		seq := 100 + g.rnd.IntN(899)
		gender := "1"
		if seq%2 == 0 {
			gender = "2"
		}
		prefix := fmt.Sprintf("310115%04d%02d%02d%03d", year, month, day, seq)
		id := prefix + string(idcode.IDCheckDigit(prefix))
		if g.usedIDs[id] {
			continue
		}
		g.usedIDs[id] = true
		name := g.pick(surnames) + g.pick(givenChars)
		if g.rnd.IntN(3) > 0 {
			name += g.pick(givenChars)
		}
		ethnicity := "01"
		if g.rnd.IntN(20) == 0 {
			ethnicity = g.pick(minorityCodes)
		}
		phone := ""
		if g.rnd.IntN(10) > 0 {
			phone = fmt.Sprintf("1%s%08d", g.pick(phonePrefixes), g.rnd.IntN(100000000))
		}
		return Person{
			IDNumber:  id,
			Name:      name,
			Gender:    gender,
			BirthDate: fmt.Sprintf("%04d%02d%02d", year, month, day),
			Ethnicity: ethnicity,
			Address:   g.address(),
			Phone:     phone,
		}
	}
}

func (g *generator) address() string {
	var b strings.Builder
	b.WriteString("上海市浦东新区")
	b.WriteString(g.pick(subdistricts))
	b.WriteString(g.pick(roads))
	fmt.Fprintf(&b, "%d弄%d号%d室", 1+g.rnd.IntN(1500), 1+g.rnd.IntN(40), 101+g.rnd.IntN(25)*100+g.rnd.IntN(4))
	return b.String()
}

func (g *generator) enterprise(rep Person) Enterprise {
	individual := g.rnd.IntN(6) == 0
	for {
		var b [9]byte
		b[0], b[1] = 'M', 'A'
		for i := 2; i < 8; i++ {
			b[i] = codeBody[g.rnd.IntN(len(codeBody))]
		}
		b[8] = orgCheck(b[:8])
		kind := "91"
		if individual {
			kind = "92"
		}
		prefix := kind + "310115" + string(b[:])
		code := prefix + string(idcode.CreditCheckChar(prefix))
		if g.usedCode[code] {
			continue
		}
		g.usedCode[code] = true
		status := "1"
		switch r := g.rnd.IntN(20); {
		case r == 0:
			status = "2"
		case r == 1:
			status = "3"
		case r == 2:
			status = "4"
		}
		var name, capital string
		if individual {
			name = "浦东新区" + g.pick(shopWords) + g.pick(shopKinds)
			capital = fmt.Sprintf("%d.0000", 1+g.rnd.IntN(20))
		} else {
			name = "上海" + g.pick(firmWords) + g.pick(firmWords2) + g.pick(industries) + "有限公司"
			capital = fmt.Sprintf("%d.%04d", 10+g.rnd.IntN(5000), g.rnd.IntN(2)*5000)
		}
		return Enterprise{
			CreditCode:   code,
			Name:         name,
			LegalRepName: rep.Name,
			LegalRepID:   rep.IDNumber,
			Capital:      capital,
			Established:  fmt.Sprintf("%04d-%02d-%02d", 1992+g.rnd.IntN(34), 1+g.rnd.IntN(12), 1+g.rnd.IntN(28)),
			Status:       status,
			Scope:        g.pick(scopes),
			Address:      g.address(),
		}
	}
}

// orgCheck is the GB 11714 check character of the 8-character organisation code body.
func orgCheck(body []byte) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range body {
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * weights[i]
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + r)
	}
}

func (g *generator) credit(n int, subjectID, subjectName string) CreditRecord {
	year := 2015 + g.rnd.IntN(11)
	decided := fmt.Sprintf("%04d-%02d-%02d", year, 1+g.rnd.IntN(12), 1+g.rnd.IntN(28))
	r := CreditRecord{SubjectID: subjectID, SubjectName: subjectName, DecidedOn: decided}
	switch k := g.rnd.IntN(10); {
	case k < 5:
		r.Kind, r.ID = KindLicense, fmt.Sprintf("XK-%06d", n)
		lic := g.pick(licences)
		r.Title = lic
		r.DecisionNumber = fmt.Sprintf("浦审批〔%d〕%d号", year, 1+g.rnd.IntN(9999))
		r.Content = "准予" + lic + "，许可范围以证载内容为准。"
		r.ValidUntil = fmt.Sprintf("%04d-%s", year+5, decided[5:])
		r.IssuedBy = "上海市浦东新区行政审批局"
	case k < 8:
		r.Kind, r.ID = KindPenalty, fmt.Sprintf("CF-%06d", n)
		reason := g.pick(penaltyReasons)
		amount := (1 + g.rnd.IntN(200)) * 500
		r.Title = reason + "行政处罚"
		r.DecisionNumber = fmt.Sprintf("浦市监处〔%d〕%d号", year, 1+g.rnd.IntN(9999))
		r.Content = fmt.Sprintf("当事人%s，依法处以罚款人民币%d元。", reason, amount)
		r.PenaltyAmount = fmt.Sprintf("%d.00", amount)
		r.IssuedBy = "上海市浦东新区市场监督管理局"
	case k < 9:
		r.Kind, r.ID = KindCommendation, fmt.Sprintf("HM-%06d", n)
		r.Title = g.pick(commendations)
		r.DecisionNumber = fmt.Sprintf("浦府〔%d〕%d号", year, 1+g.rnd.IntN(200))
		r.Content = "经评审，授予" + r.Title + "称号。"
		r.IssuedBy = "上海市浦东新区人民政府"
	default:
		r.Kind, r.ID = KindDishonesty, fmt.Sprintf("SX-%06d", n)
		r.Title = "失信被执行人"
		r.DecisionNumber = fmt.Sprintf("（%d）沪0115执%d号", year, 1+g.rnd.IntN(9999))
		r.Content = "有履行能力而拒不履行生效法律文书确定的义务。"
		r.IssuedBy = "上海市浦东新区人民法院"
	}
	return r
}

func (g *generator) insurance(p Person, firms []Enterprise) []Insurance {
	birthYear := atoi(p.BirthDate[:4])
	if birthYear > 2008 || g.rnd.IntN(10) == 0 {
		return nil // minors and some adults have no record here
	}
	startYear := max(birthYear+20, 1995) + g.rnd.IntN(10)
	if startYear > 2026 {
		startYear = 2026
	}
	first := fmt.Sprintf("%04d%02d", startYear, 1+g.rnd.IntN(min(12, 10)))
	employer := ""
	if len(firms) > 0 && g.rnd.IntN(8) > 0 {
		employer = firms[g.rnd.IntN(len(firms))].CreditCode
	}
	status, last := InsStatusActive, lastExportMonth
	if birthYear < 1966 {
		status, last = InsStatusEnded, fmt.Sprintf("%04d12", birthYear+60)
	} else if g.rnd.IntN(15) == 0 {
		status, last = InsStatusSuspended, fmt.Sprintf("2025%02d", 1+g.rnd.IntN(12))
	}
	types := []string{InsPension}
	if employer != "" {
		types = append(types, InsMedical)
		if g.rnd.IntN(2) == 0 {
			types = append(types, InsUnemployment, InsWorkInjury)
		}
		if p.Gender == "2" && g.rnd.IntN(2) == 0 {
			types = append(types, InsMaternity)
		}
	}
	out := make([]Insurance, 0, len(types))
	for _, t := range types {
		out = append(out, Insurance{p.IDNumber, p.Name, employer, t, status, first, last})
	}
	return out
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

const codeBody = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var (
	surnames      = strings.Split("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤", "")
	givenChars    = strings.Split("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红兰建国文辉力军林海波宁燕欣怡浩宇晨阳思雨嘉琪子涵梓轩一诺佳睿俊豪晓东雪梅", "")
	minorityCodes = []string{"02", "03", "04", "05", "08", "11", "15", "28"}
	phonePrefixes = []string{"30", "33", "35", "36", "37", "38", "39", "50", "51", "52", "58", "59", "77", "80", "86", "89"}
	subdistricts  = []string{"陆家嘴街道", "潍坊新村街道", "洋泾街道", "塘桥街道", "花木街道", "金杨新村街道", "沪东新村街道", "上钢新村街道", "南码头路街道", "周家渡街道", "张江镇", "川沙新镇", "高桥镇", "北蔡镇", "三林镇", "周浦镇", "惠南镇", "唐镇", "曹路镇", "金桥镇", "康桥镇", "航头镇", "祝桥镇", "书院镇", "南汇新城镇"}
	roads         = []string{"世纪大道", "张杨路", "浦东大道", "东方路", "杨高中路", "锦绣路", "龙阳路", "川沙路", "沪南公路", "金科路", "碧波路", "高科西路", "民生路", "源深路", "浦建路", "上南路", "灵山路", "金桥路", "华夏东路", "秀浦路"}
	firmWords     = []string{"浦江", "东岸", "临港", "张江", "金桥", "外高桥", "陆家嘴", "世纪", "申浦", "东方", "滨江", "新川", "汇南", "明珠", "海港"}
	firmWords2    = []string{"智联", "数科", "信达", "恒通", "华信", "嘉禾", "瑞丰", "宏远", "博创", "联科", "源泰", "启明"}
	industries    = []string{"科技", "信息技术", "贸易", "物流", "餐饮管理", "食品", "建设工程", "医疗器械", "生物医药", "文化传媒", "咨询", "电子商务"}
	shopWords     = []string{"老街坊", "邻里", "幸福", "阿婆", "小王", "好运", "兴旺", "众鑫"}
	shopKinds     = []string{"便利店", "面馆", "水果店", "理发店", "五金店", "小吃店", "早餐店"}
	scopes        = []string{
		"技术开发、技术咨询、技术服务；软件开发；信息系统集成服务。",
		"食品经营；日用百货销售；烟草制品零售。",
		"货物进出口；技术进出口；国内贸易代理。",
		"餐饮服务；餐饮管理；食品经营（销售预包装食品）。",
		"道路货物运输（不含危险货物）；国内货物运输代理；仓储服务。",
		"建设工程施工；建筑材料销售；工程管理服务。",
		"第二类医疗器械销售；医学研究和试验发展。",
	}
	licences       = []string{"食品经营许可证", "建设工程规划许可证", "道路运输经营许可证", "医疗器械经营许可证", "排污许可证", "公共场所卫生许可证"}
	penaltyReasons = []string{"未按规定公示年度报告", "销售不符合食品安全标准的食品", "虚假宣传", "未取得许可从事经营活动", "违反价格管理规定", "产品质量不合格"}
	commendations  = []string{"浦东新区守合同重信用企业", "上海市诚信示范企业", "浦东新区文明单位", "浦东新区优秀志愿者"}
)
