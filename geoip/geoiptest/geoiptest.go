// Package geoiptest writes small MaxMind databases for tests, with
// maxmind/mmdbwriter, so that GeoIP tests run without MaxMind's files.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network of a test City database.
type City struct {
	Network                    string // CIDR
	City, Continent            string
	CountryISO, Country        string
	SubdivisionISO, Subdivison string
	Lat, Lon                   float64
	NoLocation                 bool
}

// ASN is one network of a test ASN database.
type ASN struct {
	Network string
	Number  uint32
	Org     string
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
}

// Networks used by the default databases, with what they hold.
var (
	DefaultCities = []City{
		{Network: "198.51.100.0/24", City: "Springfield", Continent: "North America", CountryISO: "US", Country: "United States",
			SubdivisionISO: "OR", Subdivison: "Oregon", Lat: 44.0462, Lon: -123.022},
		{Network: "2001:db8::/32", Continent: "Europe", CountryISO: "FR", Country: "France", NoLocation: true},
	}
	DefaultASNs = []ASN{
		{Network: "198.51.100.0/24", Number: 64500, Org: "EXAMPLE-NET"},
		{Network: "203.0.113.0/24", Number: 16509, Org: "AMAZON-02"},
	}
)

// WriteCity writes a City database of type dbType (e.g. "GeoLite2-City")
// to path.
func WriteCity(t testing.TB, path, dbType string, cities []City) {
	t.Helper()
	tree := newTree(t, dbType)
	for _, c := range cities {
		rec := mmdbtype.Map{}
		if c.City != "" {
			rec["city"] = mmdbtype.Map{"names": names(c.City)}
		}
		if c.Continent != "" {
			rec["continent"] = mmdbtype.Map{"code": mmdbtype.String("XX"), "names": names(c.Continent)}
		}
		if c.CountryISO != "" {
			rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(c.CountryISO), "names": names(c.Country)}
		}
		if c.SubdivisionISO != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(c.SubdivisionISO), "names": names(c.Subdivison)}}
		}
		if !c.NoLocation {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(c.Lat), "longitude": mmdbtype.Float64(c.Lon),
				"accuracy_radius": mmdbtype.Uint16(100)}
		}
		insert(t, tree, c.Network, rec)
	}
	write(t, tree, path)
}

// WriteASN writes an ASN database of type dbType (e.g. "GeoLite2-ASN") to
// path.
func WriteASN(t testing.TB, path, dbType string, asns []ASN) {
	t.Helper()
	tree := newTree(t, dbType)
	for _, a := range asns {
		insert(t, tree, a.Network, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(a.Number),
			"autonomous_system_organization": mmdbtype.String(a.Org),
		})
	}
	write(t, tree, path)
}

// Dir writes GeoLite2-City.mmdb and GeoLite2-ASN.mmdb with the default
// networks into a new temporary folder and returns it.
func Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	WriteCity(t, filepath.Join(dir, "GeoLite2-City.mmdb"), "GeoLite2-City", DefaultCities)
	WriteASN(t, filepath.Join(dir, "GeoLite2-ASN.mmdb"), "GeoLite2-ASN", DefaultASNs)
	return dir
}

func newTree(t testing.TB, dbType string) *mmdbwriter.Tree {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func insert(t testing.TB, tree *mmdbwriter.Tree, cidr string, rec mmdbtype.Map) {
	t.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Insert(n, rec); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, tree *mmdbwriter.Tree, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
