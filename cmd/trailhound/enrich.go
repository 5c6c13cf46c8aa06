package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/rule"
)

// geoFlags are the enrichment options: the GeoIP/ASN databases and the
// entity mapping switch.
type geoFlags struct {
	dir, city, asn  string
	noEntityMapping bool
}

// addGeoFlags adds --geoip-dir, --geoip-city, --geoip-asn and
// --no-entity-mapping to fs.
func addGeoFlags(fs *pflag.FlagSet) *geoFlags {
	g := &geoFlags{}
	fs.BoolVar(&g.noEntityMapping, "no-entity-mapping", false, "do not compute the actor/target entity fields (related.entity, actor.*, target.*, entity.*), as Elastic's integration without its actor_target_mapping option")
	fs.StringVar(&g.dir, "geoip-dir", "", "folder of MaxMind GeoLite2/GeoIP2 City and ASN .mmdb files: fills source.geo.* and source.as.* as Elastic's geoip processor does (rules reading them do not run without)")
	fs.StringVar(&g.city, "geoip-city", "", "MaxMind City database (.mmdb); overrides the one in --geoip-dir")
	fs.StringVar(&g.asn, "geoip-asn", "", "MaxMind ASN database (.mmdb); overrides the one in --geoip-dir")
	return g
}

// open opens the databases the flags name; nil when none is named. Bad
// files (missing, corrupt, of another type) are input errors naming the
// file.
func (g *geoFlags) open() (*geoip.DB, error) {
	if g == nil || g.dir == "" && g.city == "" && g.asn == "" {
		return nil, nil
	}
	city, asn := g.city, g.asn
	if g.dir != "" {
		c, a, err := geoip.Find(g.dir)
		if err != nil {
			return nil, &exitError{exitErrors, err}
		}
		if city == "" {
			city = c
		}
		if asn == "" {
			asn = a
		}
	}
	db, err := geoip.OpenFiles(city, asn)
	if err != nil {
		return nil, &exitError{exitErrors, err}
	}
	return db, nil
}

// openFor opens the databases the flags name (nil when none) and
// marks the rules that need others as not run.
func (g *geoFlags) openFor(rules []*rule.Rule) (*geoip.DB, error) {
	db, err := g.open()
	if err != nil {
		return nil, err
	}
	requireEnrichment(rules, db)
	return db, nil
}

// requireEnrichment marks the rules that read enrichment fields the
// databases cannot provide (all GeoIP/ASN fields when db is nil) as not run,
// with the reason.
func requireEnrichment(rules []*rule.Rule, db *geoip.DB) {
	rule.RequireFields(rules, event.Unavailable(db))
}

// checkEnrichment refuses a query that reads fields the databases cannot
// provide: it would silently match nothing.
func checkEnrichment(fields []string, db *geoip.DB) error {
	unavailable := event.Unavailable(db)
	for _, f := range fields {
		if why := unavailable(f); why != "" {
			return usageError(fmt.Errorf("the query reads %s, which %s", f, why))
		}
	}
	return nil
}

// applyGeo opens the databases the flags name and marks the rules that
// need others.
func applyGeo(rules []*rule.Rule, g *geoFlags) error {
	db, err := g.open()
	if err != nil {
		return err
	}
	requireEnrichment(rules, db)
	if db != nil {
		return db.Close()
	}
	return nil
}

// enrichment is what the enrichment flags set for reading events.
type enrichment struct {
	geo             *geoip.DB
	noEntityMapping bool
}
