package config

import "strings"

// syntaxError is a malformed reference inside one value.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// expandRefs replaces ${KEY} (and the shorter $KEY) in v with lookup's
// answer; $$ is a literal dollar sign. An unclosed "${", an empty "${}", a
// name that is not a key name and a lone "$" are errors, so that a typo
// never turns silently into a different value.
func expandRefs(v string, lookup func(string) (string, error)) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", &syntaxError{`a lone "$" ends the value: write "$$" for a literal dollar sign`}
		}
		switch c := v[i+1]; {
		case c == '$':
			b.WriteByte('$')
			i++
		case c == '{':
			end := strings.IndexByte(v[i+2:], '}')
			if end < 0 {
				return "", &syntaxError{`unclosed reference "` + v[i:] + `": close it with "}" (or write "$$" for a literal dollar sign)`}
			}
			name := v[i+2 : i+2+end]
			if name == "" {
				return "", &syntaxError{`empty reference "${}": name a key, as in ${ACI_REGISTRY}`}
			}
			if !isName(name) {
				return "", &syntaxError{`reference "${` + name + `}" is not a key name (letters, digits, "_")`}
			}
			s, err := lookup(name)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i += 2 + end
		case isNameStart(c):
			j := i + 1
			for j < len(v) && isNameChar(v[j]) {
				j++
			}
			s, err := lookup(v[i+1 : j])
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i = j - 1
		default:
			return "", &syntaxError{`a lone "$" before "` + string(c) + `": write "$$" for a literal dollar sign or ${KEY} for a reference`}
		}
	}
	return b.String(), nil
}

func isNameStart(c byte) bool { return c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isNameChar(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' }

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
