package useragent

import (
	"strconv"
	"testing"
)

func BenchmarkParseUncached(b *testing.B) {
	parse("x") // compile
	for i := 0; b.Loop(); i++ {
		parse("aws-cli/2.17.60 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/grimoire_" + strconv.Itoa(i))
	}
}
