package useragent

import (
	"strconv"
	"testing"
)

const benchAgent = "aws-cli/2.17.60 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/grimoire_"

func BenchmarkParseUncached(b *testing.B) {
	Parse("x") // compile the regexes
	for i := 0; b.Loop(); i++ {
		a := &Agent{s: benchAgent + strconv.Itoa(i)}
		a.Name()
		a.OSName()
		a.DeviceName()
	}
}

func BenchmarkParts(b *testing.B) {
	Parse("x")
	b.Run("ua", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			reference().ParseUserAgent(benchAgent + strconv.Itoa(i))
		}
	})
	b.Run("ua-filtered", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			parseUserAgent(benchAgent + strconv.Itoa(i))
		}
	})
	b.Run("os", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			reference().ParseOs(benchAgent + strconv.Itoa(i))
		}
	})
	b.Run("os-filtered", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			parseOs(benchAgent + strconv.Itoa(i))
		}
	})
	b.Run("device", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			reference().ParseDevice(benchAgent + strconv.Itoa(i))
		}
	})
	b.Run("device-filtered", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			parseDevice(benchAgent + strconv.Itoa(i))
		}
	})
}
