package gateway

// TelemetryNameLen bounds an operation name as metrics and spans record it: the client
// chooses it.
const TelemetryNameLen = 64

// identifierDigits is the shortest run of digits an operation name may not carry into
// telemetry: an ID number has 17, a mobile number 11, a credit code 8 at its start, while
// the names apps give their operations (PersonCard, EnterpriseV2) have a few at most.
const identifierDigits = 6

// TelemetryName is a GraphQL operation's name as the gateway's metrics and spans record
// it: cut to TelemetryNameLen bytes, and withheld (ok false) when it holds a run of six
// digits. An app may name an operation after the person it reads, and the people who
// read metrics and traces may not read personal data (docs/SECURITY.md, T9).
func TelemetryName(name string) (_ string, ok bool) {
	run := 0
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			run = 0
			continue
		}
		if run++; run >= identifierDigits {
			return "", false
		}
	}
	if len(name) > TelemetryNameLen {
		name = name[:TelemetryNameLen]
	}
	return name, true
}
