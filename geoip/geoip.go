// Package geoip looks up the location and autonomous system of IP addresses
// in MaxMind databases (GeoLite2/GeoIP2 City and ASN .mmdb files), producing
// what Elasticsearch's geoip processor puts under source.geo and source.as.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Info is what the databases know about one address. Empty strings and
// zero numbers mean unknown (Elastic leaves such fields out).
type Info struct {
	CityName       string
	ContinentName  string
	CountryISOCode string
	CountryName    string
	RegionISOCode  string
	RegionName     string
	Lat, Lon       float64
	HasLocation    bool

	ASNumber uint
	ASOrg    string
}

// HasGeo reports whether the city database knew the address.
func (i *Info) HasGeo() bool {
	return i.CityName != "" || i.ContinentName != "" || i.CountryISOCode != "" || i.CountryName != "" ||
		i.RegionISOCode != "" || i.RegionName != "" || i.HasLocation
}

// DB is a pair of databases (either may be absent) with a bounded cache of
// lookups. It is safe for concurrent use.
type DB struct {
	city, asn         *maxminddb.Reader
	cityPath, asnPath string

	mu    sync.Mutex
	cache map[netip.Addr]*Info
}

// cacheSize bounds the per-address cache; when full it is emptied (CloudTrail
// logs repeat few source addresses, so a simple reset is enough).
const cacheSize = 1 << 16

// ErrNoDatabase is wrapped by Open when a folder holds no usable database.
var ErrNoDatabase = errors.New("no GeoLite2/GeoIP2 City or ASN database (.mmdb)")

// Open opens the City and ASN databases Find finds in dir.
func Open(dir string) (*DB, error) {
	city, asn, err := Find(dir)
	if err != nil {
		return nil, err
	}
	return OpenFiles(city, asn)
}

// Find returns the paths of the City and ASN databases in dir (either may
// be ""): the first *.mmdb file (by name, GeoLite2 before GeoIP2, as
// Elasticsearch's defaults are GeoLite2) whose metadata says it is a City
// database, and likewise an ASN database. Country and other databases are
// ignored; a folder with neither kind is an error.
func Find(dir string) (city, asn string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", "", fmt.Errorf("GeoIP folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(strings.ToLower(e.Name()), ".mmdb") {
			names = append(names, e.Name())
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		return strings.HasPrefix(names[i], "GeoLite2") && !strings.HasPrefix(names[j], "GeoLite2")
	})
	for _, n := range names {
		p := filepath.Join(dir, n)
		kind, err := kindOf(p)
		if err != nil {
			return "", "", err
		}
		switch {
		case kind == kindCity && city == "":
			city = p
		case kind == kindASN && asn == "":
			asn = p
		}
	}
	if city == "" && asn == "" {
		return "", "", fmt.Errorf("GeoIP folder %s: %w", dir, ErrNoDatabase)
	}
	return city, asn, nil
}

type kind int

const (
	kindOther kind = iota
	kindCity
	kindASN
)

// kindOf opens a database just to read its type.
func kindOf(path string) (kind, error) {
	r, err := openReader(path)
	if err != nil {
		return kindOther, err
	}
	defer r.Close()
	return typeKind(r.Metadata.DatabaseType), nil
}

func typeKind(t string) kind {
	switch {
	case strings.HasSuffix(t, "-City") || strings.HasSuffix(t, "-City-Test"):
		return kindCity
	case strings.HasSuffix(t, "-ASN") || strings.HasSuffix(t, "-ASN-Test") || t == "GeoLite2-ASN":
		return kindASN
	}
	return kindOther
}

func openReader(path string) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
	}
	return r, nil
}

// OpenFiles opens a City database and an ASN database; either path may be
// empty. A file of another type is an error naming it.
func OpenFiles(cityPath, asnPath string) (*DB, error) {
	db := &DB{cityPath: cityPath, asnPath: asnPath, cache: map[netip.Addr]*Info{}}
	open := func(path string, want kind, what string) (*maxminddb.Reader, error) {
		if path == "" {
			return nil, nil
		}
		r, err := openReader(path)
		if err != nil {
			return nil, err
		}
		if typeKind(r.Metadata.DatabaseType) != want {
			r.Close()
			return nil, fmt.Errorf("GeoIP database %s: type %q is not %s database", path, r.Metadata.DatabaseType, what)
		}
		return r, nil
	}
	var err error
	if db.city, err = open(cityPath, kindCity, "a City"); err != nil {
		return nil, err
	}
	if db.asn, err = open(asnPath, kindASN, "an ASN"); err != nil {
		db.Close()
		return nil, err
	}
	if db.city == nil && db.asn == nil {
		return nil, ErrNoDatabase
	}
	return db, nil
}

// Close releases the databases.
func (db *DB) Close() error {
	var errs []error
	if db.city != nil {
		errs = append(errs, db.city.Close())
	}
	if db.asn != nil {
		errs = append(errs, db.asn.Close())
	}
	return errors.Join(errs...)
}

// HasCity and HasASN say which databases are loaded.
func (db *DB) HasCity() bool { return db != nil && db.city != nil }

// HasASN reports whether an ASN database is loaded.
func (db *DB) HasASN() bool { return db != nil && db.asn != nil }

// Files names the loaded databases, for messages.
func (db *DB) Files() (city, asn string) { return db.cityPath, db.asnPath }

// cityRecord is the part of a City record the geoip processor reads by
// default (its default properties).
type cityRecord struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Subdivisions []struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
}

type asnRecord struct {
	Number uint   `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns what the databases know about ip (nil when nothing).
// Results are cached per address; a database that cannot decode a record
// (a corrupt file) yields nothing for that address.
func (db *DB) Lookup(ip netip.Addr) *Info {
	if db == nil || !ip.IsValid() {
		return nil
	}
	ip = ip.Unmap()
	db.mu.Lock()
	info, ok := db.cache[ip]
	db.mu.Unlock()
	if ok {
		return info
	}
	info = db.lookup(ip)
	db.mu.Lock()
	if len(db.cache) >= cacheSize {
		clear(db.cache)
	}
	db.cache[ip] = info
	db.mu.Unlock()
	return info
}

func (db *DB) lookup(ip netip.Addr) *Info {
	var info Info
	found := false
	if db.city != nil {
		var rec cityRecord
		if res := db.city.Lookup(ip); res.Found() && res.Decode(&rec) == nil {
			info.CityName = rec.City.Names["en"]
			info.ContinentName = rec.Continent.Names["en"]
			info.CountryISOCode = rec.Country.ISOCode
			info.CountryName = rec.Country.Names["en"]
			if len(rec.Subdivisions) > 0 {
				s := rec.Subdivisions[0]
				if s.ISOCode != "" && info.CountryISOCode != "" {
					info.RegionISOCode = info.CountryISOCode + "-" + s.ISOCode
				}
				info.RegionName = s.Names["en"]
			}
			if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
				info.Lat, info.Lon, info.HasLocation = *rec.Location.Latitude, *rec.Location.Longitude, true
			}
			found = info.HasGeo()
		}
	}
	if db.asn != nil {
		var rec asnRecord
		if res := db.asn.Lookup(ip); res.Found() && res.Decode(&rec) == nil && (rec.Number != 0 || rec.Org != "") {
			info.ASNumber, info.ASOrg = rec.Number, rec.Org
			found = true
		}
	}
	if !found {
		return nil
	}
	return &info
}
