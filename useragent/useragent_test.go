package useragent

import (
	"sync"
	"testing"
)

type want struct {
	Name, Version, OSName, OSVersion, OSFull, DeviceName string
}

// Elastic's user_agent processor results on the pipeline test pairs are the
// reference (the strings here are our own, of the same shapes).
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want want
	}{
		{"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/macos#22.1.0 md/arch#arm64 lang/python#3.11.6 md/command#iam.list-users",
			want{Name: "aws-cli", Version: "2.15.3", DeviceName: "Other"}},
		{"[aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/macos#22.1.0]", want{Name: "aws-cli", Version: "2.15.3", DeviceName: "Other"}},
		{"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0-1051-aws md/arch#x86_64",
			want{Name: "aws-cli", Version: "2.15.3", OSName: "Linux", DeviceName: "Other"}},
		{"signin.amazonaws.com", want{Name: "Other", DeviceName: "Other"}},
		{"AWS Internal", want{Name: "Other", DeviceName: "Other"}},
		{"", want{Name: "Other", DeviceName: "Other"}},
		{"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
			want{Name: "Firefox", Version: "31.0", OSName: "Windows", OSVersion: "7", OSFull: "Windows 7", DeviceName: "Other"}},
		{"aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/sts#1.26.6",
			want{Name: "aws-sdk-go-v2", Version: "1.24.0", OSName: "Linux", DeviceName: "Other"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			for range 2 { // parsed, then cached
				a := Parse(tc.in)
				got := want{a.Name(), a.Version(), a.OSName(), a.OSVersion(), a.OSFull(), a.DeviceName()}
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestJoinVersion(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"24", "0", ""}, "24.0"},
		{[]string{"1", "2", "3", "4"}, "1.2.3.4"},
		{[]string{"", "2"}, ""},
		{[]string{"7", "", "3"}, "7"},
		{nil, ""},
	} {
		if got := joinVersion(tc.parts...); got != tc.want {
			t.Errorf("joinVersion(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

// The cache stays bounded.
func TestCacheBounded(t *testing.T) {
	for i := range cacheSize + 10 {
		Parse("probe/" + string(rune('a'+i%26)) + string(rune(i)))
	}
	mu.Lock()
	n := len(cache)
	mu.Unlock()
	if n > cacheSize {
		t.Errorf("cache holds %d agents, bound %d", n, cacheSize)
	}
}

// Agents are shared between goroutines (hunt workers).
func TestConcurrent(t *testing.T) {
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				a := Parse("aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0")
				if a.Name() != "aws-cli" || a.OSName() != "Linux" || a.DeviceName() != "Other" {
					t.Errorf("got %s %s %s", a.Name(), a.OSName(), a.DeviceName())
				}
			}
			done <- true
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// Workers parse agents at once: each pattern's regex is compiled once, by
// whichever needs it first, and every worker gets uap-go's answer (run with
// -race).
func TestParseConcurrent(t *testing.T) {
	agents := []string{
		"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.6",
		"Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
		"curl/8.4.0", "signin.amazonaws.com", "",
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range agents {
				s := agents[(i+w)%len(agents)]
				if got, want := *parseUserAgent(s), *reference().ParseUserAgent(s); got != want {
					t.Errorf("user agent of %q: %+v, uap-go %+v", s, got, want)
				}
				if got, want := *parseOs(s), *reference().ParseOs(s); got != want {
					t.Errorf("os of %q: %+v, uap-go %+v", s, got, want)
				}
				if got, want := *parseDevice(s), *reference().ParseDevice(s); got != want {
					t.Errorf("device of %q: %+v, uap-go %+v", s, got, want)
				}
			}
		}()
	}
	wg.Wait()
}
