package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Output to the null device, a pipe or a file is not a terminal: a hunt
// writes JSON Lines there, not the table.
func TestIsTerminalNot(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, f := range map[string]*os.File{"null device": null, "pipe": w, "file": file} {
		if isTerminal(f) {
			t.Errorf("%s: isTerminal = true", name)
		}
	}
}
