package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		parts []string
		s     string
		want  bool
	}{
		{[]string{"abc"}, "abc", true},
		{[]string{"abc"}, "abcd", false},
		{[]string{"a", ""}, "abc", true},
		{[]string{"", "c"}, "abc", true},
		{[]string{"", "b", ""}, "abc", true},
		{[]string{"ab", "bc"}, "abc", false}, // parts may not overlap
		{[]string{"a", "b", "c"}, "a-b-c", true},
		{[]string{"", ""}, "", true},
	} {
		if got := Match(tt.parts, tt.s); got != tt.want {
			t.Errorf("%q ~ %q = %v", tt.parts, tt.s, got)
		}
	}
}
