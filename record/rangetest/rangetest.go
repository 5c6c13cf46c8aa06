// Package rangetest holds files that test reading by byte ranges
// (record.Ranges): every way records can lie across the ranges' edges, for
// the tests of each reader to compare with one sequential scan.
package rangetest

import (
	"fmt"
	"strings"
)

// Layout is a file of records laid out one way.
type Layout struct {
	Name string
	Data string
	Errs int // input errors a sequential scan finds in it
	Warn int // warnings
}

// Layouts returns the files, built of records rec(id) gives (rec must put
// id in each record; a record is about 200 bytes, with a
// requestParameters object holding "principal":"*"). Read with a record
// size limit of 6,000 bytes: one record of them is larger.
func Layouts(rec func(id string) string) []Layout {
	lines := func(prefix string, n int, sep string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(rec(fmt.Sprintf("%s%d", prefix, i)) + sep)
		}
		return b.String()
	}
	// a record over several lines (pretty-printed), and a record of about
	// ten ranges
	delivery := func(prefix string, n int, sep string) string { // sep: ",\n", or "\n" for missing commas
		return "{\"Records\":[\n" + strings.TrimSuffix(lines(prefix, n, sep), sep) + "\n]}\n"
	}
	spread := strings.NewReplacer(`,"`, ",\n  \"", `{"`, "{\n  \"").Replace(rec("spread"))
	huge := strings.Replace(rec("huge"), `"principal":"*"`, `"principal":"*","pad":"`+strings.Repeat("x", 3000)+`"`, 1)
	return []Layout{
		{"one record per line", lines("a", 40, "\n"), 0, 0},
		{"no final line break", strings.TrimSuffix(lines("a", 40, "\n"), "\n"), 0, 0},
		{"CRLF", lines("c", 40, "\r\n"), 0, 0},
		{"blank lines", lines("b", 20, "\n\n  \n\t\n") + lines("d", 20, "\n"), 0, 0},
		{"a record spanning lines", lines("a", 15, "\n") + spread + "\n" + lines("b", 15, "\n"), 0, 0},
		{"records spanning lines, CRLF", lines("a", 10, "\r\n") + strings.ReplaceAll(spread, "\n", "\r\n") + "\r\n" + spread + "\r\n" + lines("b", 10, "\r\n"), 0, 0},
		{"a record over several ranges", lines("a", 10, "\n") + huge + "\n" + lines("b", 10, "\n"), 0, 0},
		{"a record over the size limit", lines("a", 10, "\n") + strings.Replace(huge, "xxx", strings.Repeat("y", 5000), 1) + "\n" + lines("b", 10, "\n"), 1, 0},
		{"truncated last record", lines("a", 30, "\n") + rec("cut")[:120], 1, 0},
		{"invalid records in the middle", lines("a", 12, "\n") + strings.Replace(rec("bad"), `"*"`, `NaN`, 1) + "\n" + lines("b", 12, "\n") +
			`{"eventSource":"lambda.amazonaws.com","eventName":"AddPerm` + "\n" + lines("c", 12, "\n"), 2, 0},
		{"a record too deep for an event", lines("a", 12, "\n") + strings.Repeat(`{"a":`, 400) + "1" + strings.Repeat("}", 400) + "\n" + lines("b", 12, "\n"), 1, 0},
		{"text between records", lines("a", 15, "\n") + "not json at all\n# nor this\n" + lines("b", 15, "\n"), 1, 0},
		{"duplicate keys", lines("a", 15, "\n") + strings.Replace(rec("dup"), `"eventName":`, `"eventName":"x","eventName":`, 1) + "\n" + lines("b", 15, "\n"), 0, 1},
		{"a delivery file on one line", lines("a", 15, "\n") + `{"Records":[` + rec("r1") + "," + rec("r2") + "]}\n" + lines("b", 15, "\n"), 0, 0},
		{"a delivery file over many ranges", lines("a", 15, "\n") + "{\"Records\":[\n" + strings.TrimSuffix(lines("r", 30, ",\n"), ",\n") + "\n]}\n" + lines("b", 15, "\n"), 0, 0},
		{"a delivery file over lines", lines("a", 15, "\n") + "{\"Records\":[\n" + rec("r1") + ",\n" + rec("r2") + "\n]}\n" + lines("b", 15, "\n"), 0, 0},
		// files whose first record is inside an array: ranges split them
		// inside it
		{"a delivery file, a record per line", delivery("r", 40, ",\n"), 0, 0},
		{"a delivery file, CRLF", strings.ReplaceAll(delivery("r", 40, ",\n"), "\n", "\r\n"), 0, 0},
		{"delivery files one after another", delivery("r", 20, ",\n") + delivery("s", 20, ",\n") + lines("t", 10, "\n"), 0, 0},
		{"a delivery file, commas first", "{\"Records\":[\n" + rec("r0") + "\n," + strings.TrimSuffix(lines("r", 30, "\n,"), "\n,") + "\n]}\n", 0, 0},
		{"a delivery file, commas missing", "{\"Records\":[\n" + rec("r0") + ",\n" + strings.TrimSuffix(lines("r", 30, "\n"), "\n") + "\n]}\n", 0, 29},
		{"a delivery file, keys after Records", strings.TrimSuffix(delivery("r", 30, ",\n"), "}\n") + ",\"x\":[1,\n2]}\n" + lines("t", 10, "\n"), 0, 0},
		{"a delivery file, elements not records", "{\"Records\":[\n" + rec("r0") + ",\n" + strings.Repeat("7,\n\"x\",\n[1,2],\n", 3) + strings.TrimSuffix(lines("r", 30, ",\n"), ",\n") + "\n]}\n", 9, 0},
		{"a delivery file, truncated", delivery("r", 30, ",\n")[:len(delivery("r", 30, ",\n"))-3], 1, 0},
		{"an array, a record per line", "[\n" + strings.TrimSuffix(lines("r", 40, ",\n"), ",\n") + "\n]\n" + lines("t", 10, "\n"), 0, 0},
		{"an array, then values that are no records", "[\n" + strings.TrimSuffix(lines("r", 20, ",\n"), ",\n") + "\n]\n" + strings.Repeat("7\n", 400) + lines("t", 20, "\n"), 1, 0},
		{"an array with a pretty-printed record", "[\n" + lines("r", 20, ",\n") + spread + ",\n" + strings.TrimSuffix(lines("s", 20, ",\n"), ",\n") + "\n]\n", 0, 0},
	}
}

// Chunks are range sizes to read the layouts with: ranges of a fraction of
// a record, of about one, of several.
var Chunks = []int64{64, 100, 257, 1000}

// Seeds are files to start fuzzing readers by ranges with, built of
// records rec(id) gives.
func Seeds(rec func(id string) string) []string {
	return []string{
		rec("a") + "\n" + rec("b") + "\n" + rec("c") + "\n",
		rec("a") + "\r\n\n" + strings.ReplaceAll(rec("b"), `,"`, ",\n\"") + "\n" + rec("c"),
		rec("a") + "\n{\"Records\":[\n" + rec("b") + ",\n" + rec("c") + "\n]}\n" + rec("d") + "\n",
		rec("a") + "\nnot json\n" + rec("b")[:90] + "\n" + rec("c") + "\n",
		rec("a") + "\n[" + rec("b") + "\n" + rec("c") + "]\n" + rec("d") + "\n",
		rec("a") + "\n" + `{"x":"` + strings.Repeat("\\\"{", 40) + `"}` + "\n" + rec("b") + "\n",
	}
}
