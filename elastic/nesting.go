package elastic

// maxNesting bounds how deeply a rule file's TOML values nest ([ and {):
// Elastic's rules nest a few levels; the TOML decoder's memory grows with
// the square of the depth (3,000 levels: 0.4 GB; 100,000 in a 500 KB file:
// out of memory, a crash no caller can recover from), and rule files are
// parsed on every core at once.
const maxNesting = 100

// nesting returns the deepest nesting of arrays and inline tables in TOML
// text (strings and comments skipped) and the line where it is first
// reached. Table headers ([a], [[a]]) count as the brackets they are, a
// level or two.
func nesting(data []byte) (depth, line int) {
	d, ln := 0, 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			ln++
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i = skipString(data, i, &ln)
		case '[', '{':
			if d++; d > depth {
				depth, line = d, ln
			}
		case ']', '}':
			d--
		}
	}
	return depth, line
}

// skipString returns the index of the last byte of the string opening at
// data[i] (its closing quote, or the line end of one left open), counting
// the lines it spans into ln.
func skipString(data []byte, i int, ln *int) int {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 2
	}
	for i++; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			if !multi {
				return i - 1 // a single-line string left open: the decoder reports it
			}
			*ln++
		case data[i] == '\\' && q == '"':
			i++
			if i < len(data) && data[i] == '\n' {
				*ln++
			}
		case data[i] == q && !multi:
			return i
		case data[i] == q && i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			return i + 2
		}
	}
	return i
}
