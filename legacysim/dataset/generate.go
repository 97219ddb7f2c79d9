package dataset

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"

	"pudong.gov.cn/gateway/idcode"
)

// Generate builds the dataset for a seed and size: the fixtures, then the bulk records.
// The same seed and size always give the same data, and a bulk record depends only on the
// seed and its index (and, for an enterprise's legal representative or an employer, on
// how many persons or enterprises there are), never on the records before it.
// It panics on a size Check refuses.
func Generate(seed uint64, size Size) *Dataset {
	if err := size.Check(); err != nil {
		panic(err)
	}
	return generate(seed, size, size.Citizens <= HoldUpTo && size.Enterprises <= HoldUpTo)
}

// MaxCitizens and MaxEnterprises are the most bulk records of each kind there are
// numbers for (personSlots, firmSlots below).
const (
	MaxCitizens    = personSlots
	MaxEnterprises = firmSlots
)

// Check says whether a dataset of this size can be generated: no count is negative, and
// there are enough ID numbers and credit codes.
func (s Size) Check() error {
	switch {
	case s.Citizens < 0 || s.Enterprises < 0 || s.CreditRecords < 0:
		return fmt.Errorf("dataset size %+v: counts cannot be negative", s)
	case s.Citizens > MaxCitizens:
		return fmt.Errorf("dataset size: at most %d citizens, not %d", MaxCitizens, s.Citizens)
	case s.Enterprises > MaxEnterprises:
		return fmt.Errorf("dataset size: at most %d enterprises, not %d", MaxEnterprises, s.Enterprises)
	}
	return nil
}

// HoldUpTo is the number of citizens (and of enterprises, and of credit records) up to
// which a dataset holds its bulk records in memory, as the demo's and the tests' do. Above it every record is
// generated from its index when asked: the simulators then serve the district's 5.7
// million residents and their 15 million social-insurance rows in a few tens of MiB.
const HoldUpTo = 200_000

func generate(seed uint64, size Size, hold bool) *Dataset {
	ds := &Dataset{
		Credit:      fixtureCredit(),
		Insurance:   fixtureInsurance(),
		seed:        seed,
		size:        size,
		persons:     fixturePersons(),
		enterprises: fixtureEnterprises(),
		personAdd:   seed % personSlots,
		firmAdd:     (seed >> 17) % firmSlots,
	}
	if hold {
		for b := range size.Citizens {
			ds.persons = append(ds.persons, ds.bulkPerson(b))
		}
		for b := range size.Enterprises {
			ds.enterprises = append(ds.enterprises, ds.bulkEnterprise(b))
		}
	}
	if hold && size.CreditRecords <= HoldUpTo {
		for n := 1; n <= ds.bulkCredit(); n++ {
			ds.Credit = append(ds.Credit, ds.creditRecord(n))
		}
		ds.creditHeld = true
	}
	if hold {
		ds.eachBulkInsurance(func(r Insurance) error {
			ds.Insurance = append(ds.Insurance, r)
			return nil
		})
		ds.insuranceHeld = true
	}
	return ds
}

// Random streams: each kind of record draws from its own, keyed by the record's index.
const (
	streamPerson     = 0x9e3779b97f4a7c15
	streamEnterprise = 0xbf58476d1ce4e5b9
	streamCredit     = 0x94d049bb133111eb
	streamInsurance  = 0x2545f4914f6cdd1d
)

func (ds *Dataset) rand(stream uint64, index int) *rand.Rand {
	return rand.New(rand.NewPCG(ds.seed^stream, uint64(index)))
}

// NumPersons is the number of persons in the population registry, fixtures included.
func (ds *Dataset) NumPersons() int { return len(fixturePersonIDs) + ds.size.Citizens }

// Person is the registry's i-th person, 0 ≤ i < NumPersons: the fixtures first.
func (ds *Dataset) Person(i int) Person {
	if i < len(ds.persons) {
		return ds.persons[i]
	}
	return ds.bulkPerson(i - len(fixturePersonIDs))
}

// PersonByID is the person with this ID number, if the registry holds one.
func (ds *Dataset) PersonByID(id string) (Person, bool) {
	i, ok := lookup(id, fixturePersonIDs, ds.bulkPersonIndex)
	if !ok {
		return Person{}, false
	}
	return ds.Person(i), true
}

// AllPersons yields every person in registry order.
func (ds *Dataset) AllPersons() iter.Seq[Person] { return all(ds.NumPersons(), ds.Person) }

// NumEnterprises is the number of enterprises in the registry, fixtures included.
func (ds *Dataset) NumEnterprises() int { return len(fixtureEnterpriseCodes) + ds.size.Enterprises }

// Enterprise is the registry's i-th enterprise, 0 ≤ i < NumEnterprises: the fixtures first.
func (ds *Dataset) Enterprise(i int) Enterprise {
	if i < len(ds.enterprises) {
		return ds.enterprises[i]
	}
	return ds.bulkEnterprise(i - len(fixtureEnterpriseCodes))
}

// CreditCode is the i-th enterprise's code, without generating the rest of it.
func (ds *Dataset) CreditCode(i int) string {
	if i < len(ds.enterprises) {
		return ds.enterprises[i].CreditCode
	}
	return ds.bulkCode(i-len(fixtureEnterpriseCodes), ds.rand(streamEnterprise, i-len(fixtureEnterpriseCodes)))
}

// LegalRepID is the ID number of the i-th enterprise's legal representative, without
// generating the rest of the enterprise.
func (ds *Dataset) LegalRepID(i int) string {
	if i < len(ds.enterprises) {
		return ds.enterprises[i].LegalRepID
	}
	b := i - len(fixtureEnterpriseCodes)
	rnd := ds.rand(streamEnterprise, b)
	ds.bulkCode(b, rnd)
	return ds.personID(ds.representative(b, rnd))
}

// EnterpriseByCode is the enterprise registered under code, if there is one.
func (ds *Dataset) EnterpriseByCode(code string) (Enterprise, bool) {
	i, ok := lookup(code, fixtureEnterpriseCodes, ds.bulkEnterpriseIndex)
	if !ok {
		return Enterprise{}, false
	}
	return ds.Enterprise(i), true
}

// AllEnterprises yields every enterprise in registry order.
func (ds *Dataset) AllEnterprises() iter.Seq[Enterprise] {
	return all(ds.NumEnterprises(), ds.Enterprise)
}

// lookup is the registry index of the record whose key (ID number, credit code) is key:
// a fixture's, or a bulk record's found by bulkIndex.
func lookup(key string, fixtures []string, bulkIndex func(string) (int, bool)) (int, bool) {
	if i := slices.Index(fixtures, key); i >= 0 {
		return i, true
	}
	b, ok := bulkIndex(key)
	return len(fixtures) + b, ok
}

// all yields at(0) to at(n-1).
func all[T any](n int, at func(int) T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for i := range n {
			if !yield(at(i)) {
				return
			}
		}
	}
}

// bulkCredit is the number of bulk credit records: none without bulk subjects.
func (ds *Dataset) bulkCredit() int {
	if ds.size.Citizens == 0 && ds.size.Enterprises == 0 {
		return 0
	}
	return ds.size.CreditRecords
}

// NumCredit is the number of credit records, fixtures included.
func (ds *Dataset) NumCredit() int { return len(fixtureCredit()) + ds.bulkCredit() }

// AllCredit yields every credit record: the fixtures', then the bulk ones in order. A
// dataset above HoldUpTo generates the bulk ones as they are asked for.
func (ds *Dataset) AllCredit() iter.Seq[CreditRecord] {
	return func(yield func(CreditRecord) bool) {
		for _, r := range ds.Credit {
			if !yield(r) {
				return
			}
		}
		if ds.creditHeld {
			return
		}
		for n := 1; n <= ds.bulkCredit(); n++ {
			if !yield(ds.creditRecord(n)) {
				return
			}
		}
	}
}

// EachInsurance calls fn with every social-insurance row, in export order: the fixtures'
// rows, then the bulk persons' in registry order. A dataset above HoldUpTo generates the
// bulk rows one person at a time, so that memory does not grow with them. It stops at
// fn's first error.
func (ds *Dataset) EachInsurance(fn func(Insurance) error) error {
	for _, r := range ds.Insurance {
		if err := fn(r); err != nil {
			return err
		}
	}
	if ds.insuranceHeld {
		return nil
	}
	return ds.eachBulkInsurance(fn)
}

func (ds *Dataset) eachBulkInsurance(fn func(Insurance) error) error {
	for b := range ds.size.Citizens {
		for _, r := range ds.insurance(b) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// A bulk person's ID number is 310115 (Pudong), a birth date from 1940 to 2005 and a
// sequence number from 100 to 998 (the fixtures' are below 100, so no bulk person can
// take a fixture's number), then the check digit. Those 19 936 224 slots are walked in
// the order slot(b) = (personMul·b + personAdd) mod personSlots, a bijection because
// personMul is prime to personSlots: the b-th person's number is computed from b, and b
// from the number, without a table.
const (
	personYears = 66
	personSeqs  = 899
	personSlots = personYears * 12 * 28 * personSeqs
	personMul   = 12_345_701
)

// Credit codes of bulk enterprises are 91 or 92, 310115 and an organisation code MA +
// six characters + check; the first of the six is never 1 (every fixture's is), so the
// 30·31⁵ bodies are walked as the ID numbers are.
const (
	firmSlots = 30 * 31 * 31 * 31 * 31 * 31
	firmMul   = 500_000_003
)

var (
	personInv = modInverse(personMul, personSlots)
	firmInv   = modInverse(firmMul, firmSlots)

	fixturePersonIDs       = keysOf(fixturePersons(), func(p Person) string { return p.IDNumber })
	fixtureEnterpriseCodes = keysOf(fixtureEnterprises(), func(e Enterprise) string { return e.CreditCode })
)

// modInverse is a⁻¹ mod m by the extended Euclidean algorithm; a must be prime to m.
func modInverse(a, m uint64) uint64 {
	t, newT := int64(0), int64(1)
	r, newR := int64(m), int64(a)
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if r != 1 {
		panic("dataset: multiplier not prime to its modulus")
	}
	if t < 0 {
		t += int64(m)
	}
	return uint64(t)
}

// keysOf is the key of each of list's records, in order.
func keysOf[T any](list []T, key func(T) string) []string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = key(r)
	}
	return out
}

// birth returns the b-th bulk person's birth date and sequence number.
func (ds *Dataset) birth(b int) (year, month, day, seq int) {
	slot := (personMul*uint64(b) + ds.personAdd) % personSlots
	seq = 100 + int(slot%personSeqs)
	slot /= personSeqs
	day = 1 + int(slot%28)
	slot /= 28
	month = 1 + int(slot%12)
	year = 1940 + int(slot/12)
	return year, month, day, seq
}

// personID is the ID number of the registry's i-th person.
func (ds *Dataset) personID(i int) string {
	if i < len(fixturePersonIDs) {
		return fixturePersonIDs[i]
	}
	year, month, day, seq := ds.birth(i - len(fixturePersonIDs))
	prefix := fmt.Sprintf("310115%04d%02d%02d%03d", year, month, day, seq)
	return prefix + string(idcode.IDCheckDigit(prefix))
}

// bulkPersonIndex inverts personID for the bulk persons.
func (ds *Dataset) bulkPersonIndex(id string) (int, bool) {
	if len(id) != 18 || id[:6] != "310115" {
		return 0, false
	}
	for _, c := range id[6:17] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	year, month, day, seq := atoi(id[6:10]), atoi(id[10:12]), atoi(id[12:14]), atoi(id[14:17])
	if year < 1940 || year >= 1940+personYears || month < 1 || month > 12 || day < 1 || day > 28 || seq < 100 || seq >= 100+personSeqs {
		return 0, false
	}
	slot := ((uint64(year-1940)*12+uint64(month-1))*28+uint64(day-1))*personSeqs + uint64(seq-100)
	b := (slot + personSlots - ds.personAdd) % personSlots * personInv % personSlots
	if b >= uint64(ds.size.Citizens) || ds.personID(len(fixturePersonIDs)+int(b)) != id {
		return 0, false
	}
	return int(b), true
}

func (ds *Dataset) bulkPerson(b int) Person {
	rnd := ds.rand(streamPerson, b)
	pick := (&generator{rnd}).pick
	year, month, day, seq := ds.birth(b)
	gender := "1"
	if seq%2 == 0 {
		gender = "2"
	}
	name := pick(surnames) + pick(givenChars)
	if rnd.IntN(3) > 0 {
		name += pick(givenChars)
	}
	ethnicity := "01"
	if rnd.IntN(20) == 0 {
		ethnicity = pick(minorityCodes)
	}
	phone := ""
	if rnd.IntN(10) > 0 {
		phone = fmt.Sprintf("1%s%08d", pick(phonePrefixes), rnd.IntN(100000000))
	}
	return Person{
		IDNumber:  ds.personID(len(fixturePersonIDs) + b),
		Name:      name,
		Gender:    gender,
		BirthDate: fmt.Sprintf("%04d%02d%02d", year, month, day),
		Ethnicity: ethnicity,
		Address:   address(rnd),
		Phone:     phone,
	}
}

func address(rnd *rand.Rand) string {
	var b strings.Builder
	b.WriteString("上海市浦东新区")
	b.WriteString(subdistricts[rnd.IntN(len(subdistricts))])
	b.WriteString(roads[rnd.IntN(len(roads))])
	fmt.Fprintf(&b, "%d弄%d号%d室", 1+rnd.IntN(1500), 1+rnd.IntN(40), 101+rnd.IntN(25)*100+rnd.IntN(4))
	return b.String()
}

// bulkCode is the b-th bulk enterprise's credit code; it is the first draw of rnd, the
// enterprise's own stream.
func (ds *Dataset) bulkCode(b int, rnd *rand.Rand) string {
	kind := "91"
	if rnd.IntN(6) == 0 {
		kind = "92" // an individual business
	}
	slot := (firmMul*uint64(b) + ds.firmAdd) % firmSlots
	var body [9]byte
	body[0], body[1] = 'M', 'A'
	for i := 7; i > 2; i-- {
		body[i] = codeBody[slot%31]
		slot /= 31
	}
	body[2] = codeBodyNoOne[slot]
	body[8] = orgCheck(body[:8])
	prefix := kind + "310115" + string(body[:])
	return prefix + string(idcode.CreditCheckChar(prefix))
}

// bulkEnterpriseIndex inverts bulkCode.
func (ds *Dataset) bulkEnterpriseIndex(code string) (int, bool) {
	if len(code) != 18 || code[2:8] != "310115" || code[8:10] != "MA" {
		return 0, false
	}
	first := strings.IndexByte(codeBodyNoOne, code[10])
	if first < 0 {
		return 0, false
	}
	slot := uint64(first)
	for _, c := range []byte(code[11:16]) {
		d := strings.IndexByte(codeBody, c)
		if d < 0 {
			return 0, false
		}
		slot = slot*31 + uint64(d)
	}
	b := (slot + firmSlots - ds.firmAdd) % firmSlots * firmInv % firmSlots
	if b >= uint64(ds.size.Enterprises) || ds.CreditCode(len(fixtureEnterpriseCodes)+int(b)) != code {
		return 0, false
	}
	return int(b), true
}

// representative is the registry index of the b-th bulk enterprise's legal
// representative: a bulk person, or a fixture when there are none. It is the second draw
// of the enterprise's stream.
func (ds *Dataset) representative(b int, rnd *rand.Rand) int {
	if ds.size.Citizens == 0 {
		return b % len(fixturePersonIDs)
	}
	return len(fixturePersonIDs) + rnd.IntN(ds.size.Citizens)
}

func (ds *Dataset) bulkEnterprise(b int) Enterprise {
	rnd := ds.rand(streamEnterprise, b)
	pick := (&generator{rnd}).pick
	code := ds.bulkCode(b, rnd)
	rep := ds.Person(ds.representative(b, rnd))
	individual := code[1] == '2'
	status := "1"
	switch r := rnd.IntN(20); {
	case r == 0:
		status = "2"
	case r == 1:
		status = "3"
	case r == 2:
		status = "4"
	}
	var name, capital string
	if individual {
		name = "浦东新区" + pick(shopWords) + pick(shopKinds)
		capital = fmt.Sprintf("%d.0000", 1+rnd.IntN(20))
	} else {
		name = "上海" + pick(firmWords) + pick(firmWords2) + pick(industries) + "有限公司"
		capital = fmt.Sprintf("%d.%04d", 10+rnd.IntN(5000), rnd.IntN(2)*5000)
	}
	return Enterprise{
		CreditCode:   code,
		Name:         name,
		LegalRepName: rep.Name,
		LegalRepID:   rep.IDNumber,
		Capital:      capital,
		Established:  fmt.Sprintf("%04d-%02d-%02d", 1992+rnd.IntN(34), 1+rnd.IntN(12), 1+rnd.IntN(28)),
		Status:       status,
		Scope:        pick(scopes),
		Address:      address(rnd),
	}
}

type generator struct{ rnd *rand.Rand }

func (g *generator) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

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

// creditRecord is the n-th bulk credit record (n from 1): about two in three are an
// enterprise's, the rest a person's.
func (ds *Dataset) creditRecord(n int) CreditRecord {
	rnd := ds.rand(streamCredit, n)
	g := &generator{rnd}
	var subjectID, subjectName string
	if ds.size.Enterprises > 0 && (ds.size.Citizens == 0 || rnd.IntN(3) > 0) {
		e := ds.Enterprise(len(fixtureEnterpriseCodes) + rnd.IntN(ds.size.Enterprises))
		subjectID, subjectName = e.CreditCode, e.Name
	} else {
		p := ds.Person(len(fixturePersonIDs) + rnd.IntN(ds.size.Citizens))
		subjectID, subjectName = p.IDNumber, p.Name
	}
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

// insurance is the b-th bulk person's social-insurance rows: none for a minor or for one
// adult in ten, else a pension and, with an employer, more.
func (ds *Dataset) insurance(b int) []Insurance {
	p := ds.Person(len(fixturePersonIDs) + b)
	g := &generator{ds.rand(streamInsurance, b)}
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
	if ds.size.Enterprises > 0 && g.rnd.IntN(8) > 0 {
		employer = ds.CreditCode(len(fixtureEnterpriseCodes) + g.rnd.IntN(ds.size.Enterprises))
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

const (
	codeBody      = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	codeBodyNoOne = "023456789ABCDEFGHJKLMNPQRTUWXY"
)

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
