// Package regexlit finds the literals every match of a regular expression
// must contain, so that a substring search can rule out most strings
// before the regex engine runs.
package regexlit

import (
	"regexp/syntax"
	"strings"
)

// maxAlternatives bounds the literals one required set of Filter may hold.
const maxAlternatives = 32

// Filter returns a test that every string the regular expression expr
// matches passes, built from the literals a match must contain (for
// `.*?(how|decrypt|...).*`: one of how, decrypt, ...), or nil when expr
// requires no literal. Checking literals with a substring search first
// spares the regex engine the strings that cannot match, which are nearly
// all. Case-insensitive literals are compared ASCII-case-folded; a string
// with non-ASCII bytes always passes, since Unicode folding maps some of
// those onto ASCII letters (K, ſ).
func Filter(expr string) func(string) bool { return FilterMax(expr, maxAlternatives) }

// FilterMax is Filter with another bound on the literals one alternation
// may require (one of them): a larger bound suits a regex run once per
// distinct string, where a long list of substring searches still costs less
// than the regex.
func FilterMax(expr string, maxAlternatives int) func(string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	req := required(re.Simplify(), maxAlternatives)
	if len(req) == 0 {
		return nil
	}
	fold := false
	for _, set := range req {
		fold = fold || set.fold
	}
	return func(s string) bool {
		if fold && !isASCII(s) {
			return true
		}
		for _, set := range req {
			if !containsAny(s, set.lits, set.fold) {
				return false
			}
		}
		return true
	}
}

// literalSet is satisfied by a string containing any one of lits (folded:
// lits are lower case and compared ignoring ASCII case).
type literalSet struct {
	lits []string
	fold bool
}

// required returns the literal sets every match of re satisfies: all of
// them (a conjunction). nil means nothing is known.
func required(re *syntax.Regexp, maxAlternatives int) []literalSet {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		lit := string(re.Rune)
		if fold {
			if !isASCII(lit) {
				return nil
			}
			lit = strings.ToLower(lit)
		}
		return []literalSet{{lits: []string{lit}, fold: fold}}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0], maxAlternatives)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0], maxAlternatives)
		}
	case syntax.OpConcat:
		var out []literalSet
		for _, sub := range re.Sub {
			out = append(out, required(sub, maxAlternatives)...)
		}
		return out
	case syntax.OpAlternate:
		var union literalSet
		for i, sub := range re.Sub {
			best, ok := strongest(required(sub, maxAlternatives))
			if !ok || (i > 0 && best.fold != union.fold) {
				return nil
			}
			union.fold = best.fold
			union.lits = append(union.lits, best.lits...)
		}
		if len(union.lits) > maxAlternatives {
			return nil
		}
		return []literalSet{union}
	}
	return nil
}

// strongest is the set of sets that filters most: the one whose shortest
// literal is longest.
func strongest(sets []literalSet) (literalSet, bool) {
	best, bestLen := literalSet{}, 0
	for _, s := range sets {
		short := len(s.lits[0])
		for _, l := range s.lits {
			short = min(short, len(l))
		}
		if short > bestLen {
			best, bestLen = s, short
		}
	}
	return best, bestLen > 0
}

func containsAny(s string, lits []string, fold bool) bool {
	for _, l := range lits {
		if fold && containsFoldASCII(s, l) || !fold && strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// containsFoldASCII reports whether s contains lower (lower-case ASCII)
// ignoring ASCII case.
func containsFoldASCII(s, lower string) bool {
	if lower == "" {
		return true
	}
	first := lower[0]
	for i := 0; i+len(lower) <= len(s); i++ {
		if toLowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(lower) && toLowerASCII(s[i+j]) == lower[j] {
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
