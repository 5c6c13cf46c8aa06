package event

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/useragent"
)

// geoInfo returns what the GeoIP databases know about source.ip, looked up
// at most once per event (and cached per address by the databases).
func (e *Event) geoInfo() *geoip.Info {
	if e.geoDone {
		return e.geo
	}
	e.geoDone = true
	if e.geoDB == nil || e.Kind != KindCloudTrail {
		return nil
	}
	b := e.getString("sourceIPAddress")
	if len(b) == 0 {
		return nil
	}
	ip, err := netip.ParseAddr(b)
	if err != nil || ip.Zone() != "" {
		return nil
	}
	e.geo = e.geoDB.Lookup(ip)
	return e.geo
}

// agent returns the parsed userAgent of a raw record (nil without one),
// looked up at most once per event (several rules read user_agent.*).
func (e *Event) agent() *useragent.Agent {
	if e.uaDone {
		return e.ua
	}
	e.uaDone = true
	if e.Kind != KindCloudTrail {
		return nil
	}
	switch v, st := e.scalarAt("userAgent"); st {
	case scalarAbsent:
		return nil
	case scalarFound:
		if v.T != String {
			return nil
		}
		e.ua = useragent.Parse(v.S)
		return e.ua
	}
	v := present(e.get("userAgent"))
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	e.ua = useragent.Parse(b2s(v.GetStringBytes()))
	return e.ua
}

// geoFields are the source.geo and source.as leaves the geoip processor
// writes, with how to read each from a lookup.
var geoFields = map[string]func(i *geoip.Info, dst []Value) []Value{
	"source.geo.city_name":        func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.CityName) },
	"source.geo.continent_name":   func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.ContinentName) },
	"source.geo.country_iso_code": func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.CountryISOCode) },
	"source.geo.country_name":     func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.CountryName) },
	"source.geo.region_iso_code":  func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.RegionISOCode) },
	"source.geo.region_name":      func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.RegionName) },
	"source.geo.location.lat": func(i *geoip.Info, dst []Value) []Value {
		if !i.HasLocation {
			return dst
		}
		return append(dst, Value{formatFloat(i.Lat), Number})
	},
	"source.geo.location.lon": func(i *geoip.Info, dst []Value) []Value {
		if !i.HasLocation {
			return dst
		}
		return append(dst, Value{formatFloat(i.Lon), Number})
	},
	"source.as.number": func(i *geoip.Info, dst []Value) []Value {
		if i.ASNumber == 0 {
			return dst
		}
		return append(dst, Value{formatUint(i.ASNumber), Number})
	},
	"source.as.organization.name": func(i *geoip.Info, dst []Value) []Value { return appendStr(dst, i.ASOrg) },
}

// agentFields are the user_agent leaves the user_agent processor writes.
var agentFields = map[string]func(a *useragent.Agent) string{
	"user_agent.name":        func(a *useragent.Agent) string { return a.Name() },
	"user_agent.version":     func(a *useragent.Agent) string { return a.Version() },
	"user_agent.os.name":     func(a *useragent.Agent) string { return a.OSName() },
	"user_agent.os.version":  func(a *useragent.Agent) string { return a.OSVersion() },
	"user_agent.os.full":     func(a *useragent.Agent) string { return a.OSFull() },
	"user_agent.device.name": func(a *useragent.Agent) string { return a.DeviceName() },
}

func appendStr(dst []Value, s string) []Value {
	if s == "" {
		return dst
	}
	return append(dst, Value{s, String})
}

// NeedsGeoIP reports whether a field is computed from the GeoIP/ASN
// databases (source.geo.*, source.as.*), so that a rule reading it cannot
// run without them.
func NeedsGeoIP(name string) bool {
	for _, p := range []string{"source.geo", "source.as"} {
		if name == p || strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

// enrichGetter returns the getter of a GeoIP/ASN or user-agent field, or
// nil for other fields.
func enrichGetter(name string) Getter {
	p := newPath(name)
	if get, ok := geoFields[name]; ok {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if i := e.geoInfo(); i != nil {
				return get(i, dst)
			}
			return dst
		}
	}
	if get, ok := agentFields[name]; ok {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if a := e.agent(); a != nil {
				return appendStr(dst, get(a))
			}
			return dst
		}
	}
	if get, ok := entityFields[name]; ok {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if x := e.entities(); x != nil {
				for _, v := range get(x) {
					dst = append(dst, Value{v, String})
				}
			}
			return dst
		}
	}
	if NeedsGeoIP(name) || name == "user_agent.os" || name == "user_agent.device" || name == "source.geo.location" {
		// objects and unknown leaves: from the whole document
		return func(e *Event, dst []Value) []Value { return walk(e.ECS(), p, 0, dst) }
	}
	return nil
}

// setEnrichment adds the GeoIP/ASN and user-agent fields to the document.
func (b *ecsBuilder) setEnrichment(e *Event) {
	if i := e.geoInfo(); i != nil {
		b.setStr("source.geo.city_name", i.CityName)
		b.setStr("source.geo.continent_name", i.ContinentName)
		b.setStr("source.geo.country_iso_code", i.CountryISOCode)
		b.setStr("source.geo.country_name", i.CountryName)
		if i.HasLocation {
			b.set("source.geo.location.lat", b.a.NewNumberFloat64(i.Lat))
			b.set("source.geo.location.lon", b.a.NewNumberFloat64(i.Lon))
		}
		b.setStr("source.geo.region_iso_code", i.RegionISOCode)
		b.setStr("source.geo.region_name", i.RegionName)
		if i.ASNumber != 0 {
			b.set("source.as.number", b.a.NewNumberString(formatUint(i.ASNumber)))
		}
		b.setStr("source.as.organization.name", i.ASOrg)
	}
	if a := e.agent(); a != nil {
		for name, get := range agentFields {
			b.setStr(name, get(a))
		}
	}
	if x := e.entities(); x != nil {
		for name, get := range entityFields {
			if vs := get(x); len(vs) > 0 {
				b.set(name, b.strArray(vs))
			}
		}
	}
}

// entities returns the actor/target entity mapping of the event, computed
// at most once (nil when the mapping is off or the event is not raw).
func (e *Event) entities() *entities {
	if e.noEntities || e.Kind != KindCloudTrail {
		return nil
	}
	if e.ents == nil {
		e.ents = buildEntities(e.root())
	}
	return e.ents
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func formatUint(n uint) string { return strconv.FormatUint(uint64(n), 10) }

// Unavailable says why a field cannot be computed with the given GeoIP
// databases (nil: none), or "" when it can: GeoIP/ASN fields need the
// databases, Panther's p_enrichment fields are never available. Use it with
// rule.RequireFields.
func Unavailable(db *geoip.DB) func(field string) string {
	return func(name string) string {
		switch {
		case name == "p_enrichment" || strings.HasPrefix(name, "p_enrichment."):
			// Panther's lookup-table enrichment (ipinfo, GreyNoise, ...) is
			// never in CloudTrail logs
			return "needs Panther's p_enrichment lookup tables, which trailhound does not provide"
		case !NeedsGeoIP(name):
			return ""
		case db == nil:
			return "needs GeoIP/ASN databases (--geoip-dir)"
		case (name == "source.as" || strings.HasPrefix(name, "source.as.")) && !db.HasASN():
			return "needs a GeoLite2/GeoIP2 ASN database (--geoip-asn or --geoip-dir)"
		case (name == "source.geo" || strings.HasPrefix(name, "source.geo.")) && !db.HasCity():
			return "needs a GeoLite2/GeoIP2 City database (--geoip-city or --geoip-dir)"
		}
		return ""
	}
}
