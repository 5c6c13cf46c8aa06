package geoip_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/geoip/geoiptest"
)

func TestLookup(t *testing.T) {
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.HasCity() || !db.HasASN() {
		t.Fatalf("databases not found: city %v asn %v", db.HasCity(), db.HasASN())
	}
	for _, tc := range []struct {
		ip   string
		want *geoip.Info
	}{
		{"198.51.100.7", &geoip.Info{CityName: "Springfield", ContinentName: "North America", CountryISOCode: "US",
			CountryName: "United States", RegionISOCode: "US-OR", RegionName: "Oregon", Lat: 44.0462, Lon: -123.022,
			HasLocation: true, ASNumber: 64500, ASOrg: "EXAMPLE-NET"}},
		{"::ffff:198.51.100.7", &geoip.Info{CityName: "Springfield", ContinentName: "North America", CountryISOCode: "US",
			CountryName: "United States", RegionISOCode: "US-OR", RegionName: "Oregon", Lat: 44.0462, Lon: -123.022,
			HasLocation: true, ASNumber: 64500, ASOrg: "EXAMPLE-NET"}},
		{"203.0.113.9", &geoip.Info{ASNumber: 16509, ASOrg: "AMAZON-02"}},                                  // ASN only
		{"2001:db8::1", &geoip.Info{ContinentName: "Europe", CountryISOCode: "FR", CountryName: "France"}}, // no location, no region
		{"192.0.2.1", nil}, // in neither
	} {
		t.Run(tc.ip, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				got := db.Lookup(netip.MustParseAddr(tc.ip))
				switch {
				case tc.want == nil && got != nil:
					t.Fatalf("got %+v, want nothing", *got)
				case tc.want != nil && (got == nil || *got != *tc.want):
					t.Fatalf("got %+v, want %+v", got, *tc.want)
				}
			}
		})
	}
	if got := db.Lookup(netip.Addr{}); got != nil {
		t.Errorf("invalid address: got %+v", got)
	}
	var none *geoip.DB
	if got := none.Lookup(netip.MustParseAddr("198.51.100.7")); got != nil || none.HasCity() || none.HasASN() {
		t.Errorf("nil DB answered %+v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	good := geoiptest.Dir(t)
	city := filepath.Join(good, "GeoLite2-City.mmdb")
	asn := filepath.Join(good, "GeoLite2-ASN.mmdb")
	tmp := t.TempDir()
	corrupt := filepath.Join(tmp, "GeoLite2-City.mmdb")
	if err := os.WriteFile(corrupt, []byte("not a MaxMind database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(tmp, "truncated.mmdb")
	data, err := os.ReadFile(city)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	countryDir := t.TempDir()
	geoiptest.WriteCity(t, filepath.Join(countryDir, "GeoLite2-Country.mmdb"), "GeoLite2-Country", geoiptest.DefaultCities)
	emptyDir := t.TempDir()

	for _, tc := range []struct {
		name      string
		open      func() (*geoip.DB, error)
		wantInErr []string
	}{
		{"missing folder", func() (*geoip.DB, error) { return geoip.Open(filepath.Join(tmp, "nope")) }, []string{"GeoIP folder", "nope"}},
		{"empty folder", func() (*geoip.DB, error) { return geoip.Open(emptyDir) }, []string{emptyDir, "no GeoLite2/GeoIP2 City or ASN"}},
		{"country only", func() (*geoip.DB, error) { return geoip.Open(countryDir) }, []string{"no GeoLite2/GeoIP2 City or ASN"}},
		{"corrupt file in folder", func() (*geoip.DB, error) { return geoip.Open(tmp) }, []string{tmp}},
		{"corrupt city", func() (*geoip.DB, error) { return geoip.OpenFiles(corrupt, "") }, []string{corrupt}},
		{"truncated city", func() (*geoip.DB, error) { return geoip.OpenFiles(truncated, "") }, []string{truncated}},
		{"missing asn", func() (*geoip.DB, error) { return geoip.OpenFiles("", filepath.Join(tmp, "x.mmdb")) }, []string{"x.mmdb"}},
		{"ASN given as city", func() (*geoip.DB, error) { return geoip.OpenFiles(asn, "") }, []string{asn, `"GeoLite2-ASN" is not a City database`}},
		{"city given as ASN", func() (*geoip.DB, error) { return geoip.OpenFiles(city, city) }, []string{city, "is not an ASN database"}},
		{"nothing", func() (*geoip.DB, error) { return geoip.OpenFiles("", "") }, []string{"no GeoLite2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := tc.open()
			if err == nil {
				db.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := geoip.Open(emptyDir); !errors.Is(err, geoip.ErrNoDatabase) {
		t.Errorf("empty folder: %v does not wrap ErrNoDatabase", err)
	}
}

// The folder may hold only one kind; GeoLite2 files win over GeoIP2 ones.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	geoiptest.WriteCity(t, filepath.Join(dir, "GeoIP2-City-Test.mmdb"), "GeoIP2-City", geoiptest.DefaultCities)
	geoiptest.WriteCity(t, filepath.Join(dir, "GeoLite2-City.mmdb"), "GeoLite2-City", geoiptest.DefaultCities)
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	city, asn, err := geoip.Find(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(city) != "GeoLite2-City.mmdb" || asn != "" {
		t.Errorf("Find = %q, %q", city, asn)
	}
	db, err := geoip.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.HasCity() || db.HasASN() {
		t.Errorf("city %v asn %v", db.HasCity(), db.HasASN())
	}
}

// MaxMind's own test databases (the ones Elastic's pipeline tests use)
// give the values of Elastic's expected documents.
func TestMaxMindTestDatabases(t *testing.T) {
	dir := "../../shared/corpus/geoip-test"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("MaxMind test databases not found at %s (the shared corpus beside the repo): %v", dir, err)
	}
	db, err := geoip.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ip, want := range map[string]geoip.Info{
		"216.160.83.56": {CityName: "Milton", ContinentName: "North America", CountryISOCode: "US", CountryName: "United States",
			RegionISOCode: "US-WA", RegionName: "Washington", Lat: 47.2513, Lon: -122.3149, HasLocation: true, ASNumber: 209},
		"89.160.20.156": {CityName: "Linköping", ContinentName: "Europe", CountryISOCode: "SE", CountryName: "Sweden",
			RegionISOCode: "SE-E", RegionName: "Östergötland County", Lat: 58.4167, Lon: 15.6167, HasLocation: true,
			ASNumber: 29518, ASOrg: "Bredband2 AB"},
	} {
		if got := db.Lookup(netip.MustParseAddr(ip)); got == nil || *got != want {
			t.Errorf("%s: got %+v, want %+v", ip, got, want)
		}
	}
}

// One DB serves every hunt worker.
func TestConcurrentLookups(t *testing.T) {
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				if got := db.Lookup(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})); got == nil || got.ASNumber != 64500 {
					t.Errorf("got %+v", got)
				}
			}
			done <- true
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// A database damaged after its header (flipped bytes anywhere) either fails
// to open, naming the file, or answers lookups without panicking.
func TestDamagedDatabase(t *testing.T) {
	dir := geoiptest.Dir(t)
	data, err := os.ReadFile(filepath.Join(dir, "GeoLite2-City.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 7 {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0xA5
		path := filepath.Join(t.TempDir(), "damaged.mmdb")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := geoip.OpenFiles(path, "")
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("byte %d: error %q does not name the file", i, err)
			}
			continue
		}
		for _, ip := range []string{"198.51.100.7", "203.0.113.9", "2001:db8::1", "8.8.8.8"} {
			db.Lookup(netip.MustParseAddr(ip))
		}
		db.Close()
	}
}
