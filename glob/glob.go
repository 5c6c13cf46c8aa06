// Package glob matches strings against wildcard patterns held as their
// literal parts (the text between `*`s).
package glob

import "strings"

// Match reports whether s is parts[0], then any run of characters, parts[1],
// ..., with s ending in the last part. One part means equality.
func Match(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, m := range parts[1 : len(parts)-1] {
		i := strings.Index(s, m)
		if i < 0 {
			return false
		}
		s = s[i+len(m):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
