// Package regexlit finds the literals every match of a regular expression
// must contain, so that a substring search can rule out most strings
// before the regex engine runs.
package regexlit

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxAlternatives bounds the literals one required set of Filter may hold.
const maxAlternatives = 32

// maxRun bounds the concatenations a run of exact subexpressions may
// require one of: an alternation of such runs unites them.
const maxRun = 16

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
	scans := make([]*foldScan, len(req))
	for i, set := range req {
		if set.fold && len(set.lits) > 1 {
			scans[i] = newFoldScan(set.lits)
		}
	}
	return func(s string) bool {
		if fold && !isASCII(s) {
			return true
		}
		for i, set := range req {
			if sc := scans[i]; sc != nil {
				if !sc.in(s) {
					return false
				}
			} else if !containsAny(s, set.lits, set.fold) {
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
		// a run of subexpressions matching few exact strings requires one
		// of their concatenations (S(?:imp|cr)apy: Simp or Scr, not just
		// S, nor imp); the others require what they require
		var out []literalSet
		for i := 0; i < len(re.Sub); {
			j, run := i, literalSet{lits: []string{""}}
			for ; j < len(re.Sub); j++ {
				next, ok := concatExact(run, re.Sub[j], min(maxAlternatives, maxRun))
				if !ok {
					break
				}
				run = next
			}
			if j > i && j < len(re.Sub) {
				// the run goes on into how the next one starts (W(?:IRE|ordPress|...)
				// requires WIRE or WordPress ...), which still requires its own
				if pre, ok := prefixes(re.Sub[j], maxRun); ok && len(run.lits)*len(pre.lits) <= min(maxAlternatives, maxRun) {
					run, _ = concatSets(run, pre)
					if !slices.Contains(run.lits, "") {
						out = append(out, run)
						out = append(out, required(re.Sub[j], maxAlternatives)...)
						i = j + 1
						continue
					}
				}
			}
			if j > i+1 && !slices.Contains(run.lits, "") {
				out = append(out, run)
				i = j
				continue
			}
			out = append(out, required(re.Sub[i], maxAlternatives)...)
			i++
		}
		return out
	case syntax.OpAlternate:
		var union literalSet
		for _, sub := range re.Sub {
			best, ok := strongest(required(sub, maxAlternatives))
			if !ok {
				return nil
			}
			union.fold = union.fold || best.fold
			union.lits = append(union.lits, best.lits...)
		}
		if len(union.lits) > maxAlternatives {
			return nil
		}
		if union.fold { // compared ignoring case: sound for the case-sensitive ones too
			for i, l := range union.lits {
				union.lits[i] = strings.ToLower(l)
			}
		}
		return []literalSet{union}
	}
	return nil
}

// concatExact returns the strings of run followed by those of re, when re
// matches few exact strings and the product stays within max.
func concatExact(run literalSet, re *syntax.Regexp, max int) (literalSet, bool) {
	ex, ok := exact(re, max)
	if !ok || len(run.lits)*len(ex.lits) > max {
		return literalSet{}, false
	}
	return concatSets(run, ex)
}

// concatSets returns every string of a followed by one of b.
func concatSets(a, b literalSet) (literalSet, bool) {
	out := literalSet{fold: a.fold || b.fold}
	for _, x := range a.lits {
		for _, y := range b.lits {
			out.lits = append(out.lits, x+y)
		}
	}
	if out.fold { // compared ignoring case: sound for the case-sensitive parts too
		for i, l := range out.lits {
			out.lits[i] = strings.ToLower(l)
		}
	}
	return out, true
}

// prefixes returns strings one of which every match of re starts with ("":
// none known for some), at most max of them, ASCII.
func prefixes(re *syntax.Regexp, max int) (literalSet, bool) {
	if ex, ok := exact(re, max); ok {
		return ex, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return prefixes(re.Sub[0], max)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return prefixes(re.Sub[0], max)
		}
	case syntax.OpConcat:
		run := literalSet{lits: []string{""}}
		for _, sub := range re.Sub {
			if next, ok := concatExact(run, sub, max); ok {
				run = next
				continue
			}
			if pre, ok := prefixes(sub, max); ok && len(run.lits)*len(pre.lits) <= max {
				run, _ = concatSets(run, pre)
			}
			break
		}
		return run, true
	case syntax.OpAlternate:
		return alternate(re.Sub, max, prefixes)
	}
	return literalSet{lits: []string{""}}, true
}

// alternate is the union of what of (prefixes or exact) gives for each
// branch of an alternation, if every branch gives a set and the union
// holds at most max literals (lower-cased when any branch ignores case).
func alternate(subs []*syntax.Regexp, max int, of func(*syntax.Regexp, int) (literalSet, bool)) (literalSet, bool) {
	var out literalSet
	for _, sub := range subs {
		set, ok := of(sub, max)
		if !ok || len(out.lits)+len(set.lits) > max {
			return literalSet{}, false
		}
		out.fold = out.fold || set.fold
		out.lits = append(out.lits, set.lits...)
	}
	if out.fold {
		for i, l := range out.lits {
			out.lits[i] = strings.ToLower(l)
		}
	}
	return out, true
}

// exact returns every string re matches, when they are at most max and
// ASCII (folded: lower case, to compare ignoring case).
func exact(re *syntax.Regexp, max int) (literalSet, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// zero-width: what is around it is contiguous in the match
		return literalSet{lits: []string{""}}, true
	case syntax.OpLiteral:
		lit := string(re.Rune)
		if !isASCII(lit) {
			return literalSet{}, false
		}
		if re.Flags&syntax.FoldCase != 0 {
			return literalSet{lits: []string{strings.ToLower(lit)}, fold: true}, true
		}
		return literalSet{lits: []string{lit}}, true
	case syntax.OpCharClass:
		var lits []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r >= utf8.RuneSelf || len(lits) >= min(max, 4) {
					return literalSet{}, false
				}
				lits = append(lits, string(r))
			}
		}
		return literalSet{lits: lits}, len(lits) > 0
	case syntax.OpCapture:
		return exact(re.Sub[0], max)
	case syntax.OpQuest:
		ex, ok := exact(re.Sub[0], max)
		if !ok || len(ex.lits)+1 > max {
			return literalSet{}, false
		}
		ex.lits = append(ex.lits, "")
		return ex, true
	case syntax.OpConcat:
		run := literalSet{lits: []string{""}}
		for _, sub := range re.Sub {
			var ok bool
			if run, ok = concatExact(run, sub, max); !ok {
				return literalSet{}, false
			}
		}
		return run, true
	case syntax.OpAlternate:
		return alternate(re.Sub, max, exact)
	}
	return literalSet{}, false
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

// foldScan finds any of several lower-case ASCII literals in a string,
// ignoring ASCII case, in one pass over it: only the bytes some literal
// starts with are tried (containsFoldASCII per literal makes one pass each),
// and of those only the ones followed by a byte some of their literals have
// second.
type foldScan struct {
	byFirst [256][]string // literals by first byte, either case
	// second holds, by first byte (either case), the second bytes of its
	// literals (a set of 256 bits); all of them when one has no second
	second [256][4]uint64
	empty  bool // a literal is empty: every string has it
}

func newFoldScan(lits []string) *foldScan {
	sc := &foldScan{}
	for _, l := range lits {
		if l == "" {
			sc.empty = true
			continue
		}
		c := l[0]
		firsts := []byte{c}
		if up := c - 'a' + 'A'; 'a' <= c && c <= 'z' {
			firsts = append(firsts, up)
		}
		for _, f := range firsts {
			sc.byFirst[f] = append(sc.byFirst[f], l)
			if len(l) == 1 {
				sc.second[f] = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
			} else {
				sc.second[f][l[1]>>6] |= 1 << (l[1] & 63)
			}
		}
	}
	return sc
}

func (sc *foldScan) in(s string) bool {
	if sc.empty {
		return true
	}
	for i := 0; i < len(s); i++ {
		lits := sc.byFirst[s[i]]
		if len(lits) == 0 {
			continue
		}
		if i+1 < len(s) {
			if n := toLowerASCII(s[i+1]); sc.second[s[i]][n>>6]&(1<<(n&63)) == 0 {
				continue // no literal starting here has this second byte
			}
		}
		for _, l := range lits {
			if hasPrefixFoldASCII(s[i:], l) {
				return true
			}
		}
	}
	return false
}

// hasPrefixFoldASCII reports whether s starts with lower (lower-case ASCII)
// ignoring ASCII case.
func hasPrefixFoldASCII(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for j := 0; j < len(lower); j++ {
		if toLowerASCII(s[j]) != lower[j] {
			return false
		}
	}
	return true
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
