package elastic

import "bytes"

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
			if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
				i += j - 1 // the newline is counted next
			} else {
				i = len(data)
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
// the lines it spans into ln. It finds the next quote with bytes.IndexByte,
// then escapes and line ends before it: rule files are mostly long
// multi-line strings (queries, descriptions), where a loop over each byte
// was 8% of the instructions of loading the rules.
func skipString(data []byte, i int, ln *int) int {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 2
	}
	for i++; i < len(data); {
		k := len(data) // the next quote, or escape
		if j := bytes.IndexByte(data[i:], q); j >= 0 {
			k = i + j
		}
		if q == '"' {
			if j := bytes.IndexByte(data[i:k], '\\'); j >= 0 {
				k = i + j
			}
		}
		if !multi {
			if j := bytes.IndexByte(data[i:k], '\n'); j >= 0 {
				return i + j - 1 // a single-line string left open: the decoder reports it
			}
		} else {
			*ln += bytes.Count(data[i:k], newline)
		}
		switch {
		case k == len(data):
			return k
		case data[k] == '\\': // the escaped byte is skipped
			if k++; k < len(data) && data[k] == '\n' {
				*ln++
			}
			i = k + 1
		case !multi:
			return k
		case k+2 < len(data) && data[k+1] == q && data[k+2] == q:
			return k + 2
		default:
			i = k + 1
		}
	}
	return i
}

var newline = []byte{'\n'}
