package gateway

// ValidChain reports whether name can name an audit chain (AuditEvent.Chain) of a
// replica: 1 to 64 ASCII letters, digits, '.', '_' or '-', so that it is safe in file
// names, logs and paging cursors. The default chain "" is not a replica's.
func ValidChain(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
