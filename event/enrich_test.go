package event

import (
	"strings"
	"testing"

	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/geoip/geoiptest"
)

func TestEnrichmentFields(t *testing.T) {
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const cli = `aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.6`
	rec := func(ip, ua string) string {
		return `{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1","sourceIPAddress":"` + ip + `","userAgent":"` + ua + `","eventID":"e1"}`
	}
	for _, tc := range []struct {
		name   string
		record string
		geo    *geoip.DB
		want   map[string]string // field -> values joined by |; "" absent
	}{
		{"city and ASN", rec("198.51.100.7", cli), db, map[string]string{
			"source.geo.city_name": "Springfield", "source.geo.continent_name": "North America",
			"source.geo.country_iso_code": "US", "source.geo.country_name": "United States",
			"source.geo.region_iso_code": "US-OR", "source.geo.region_name": "Oregon",
			"source.geo.location.lat": "44.0462", "source.geo.location.lon": "-123.022",
			"source.as.number": "64500", "source.as.organization.name": "EXAMPLE-NET",
			"user_agent.name": "aws-cli", "user_agent.version": "2.15.3", "user_agent.os.name": "Linux",
			"user_agent.os.version": "", "user_agent.device.name": "Other", "user_agent.original": cli,
		}},
		{"ASN only", rec("203.0.113.9", "signin.amazonaws.com"), db, map[string]string{
			"source.geo.city_name": "", "source.geo.location.lat": "", "source.as.number": "16509",
			"source.as.organization.name": "AMAZON-02", "user_agent.name": "Other", "user_agent.version": "",
			"user_agent.device.name": "Other",
		}},
		{"service name, not an address", rec("lambda.amazonaws.com", "lambda.amazonaws.com"), db, map[string]string{
			"source.ip": "", "source.as.number": "", "source.geo.country_iso_code": "", "user_agent.name": "Other",
		}},
		{"no databases", rec("198.51.100.7", cli), nil, map[string]string{
			"source.ip": "198.51.100.7", "source.geo.city_name": "", "source.as.number": "", "user_agent.name": "aws-cli",
		}},
		{"no agent", `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-05-01T10:00:00Z","sourceIPAddress":"198.51.100.7"}`, db, map[string]string{
			"user_agent.name": "", "user_agent.device.name": "", "source.geo.city_name": "Springfield",
		}},
		{"ECS input keeps its own", `{"@timestamp":"2024-05-01T10:00:00Z","event":{"provider":"sts.amazonaws.com","action":"GetCallerIdentity"},"source":{"ip":"198.51.100.7","geo":{"city_name":"Elsewhere"},"as":{"number":1}},"user_agent":{"name":"Boto3"}}`, db, map[string]string{
			"source.geo.city_name": "Elsewhere", "source.as.number": "1", "user_agent.name": "Boto3",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFields(t, Parser{GeoIP: tc.geo}, tc.record, tc.want)
		})
	}
}

func TestUnavailable(t *testing.T) {
	dir := geoiptest.Dir(t)
	both, err := geoip.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cityOnly, err := geoip.OpenFiles(dir+"/GeoLite2-City.mmdb", "")
	if err != nil {
		t.Fatal(err)
	}
	asnOnly, err := geoip.OpenFiles("", dir+"/GeoLite2-ASN.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		db    *geoip.DB
		want  string // substring of the reason; "" available
	}{
		{"source.as.organization.name", nil, "needs GeoIP/ASN databases (--geoip-dir)"},
		{"source.geo.country_iso_code", nil, "needs GeoIP/ASN databases (--geoip-dir)"},
		{"source.geo", nil, "--geoip-dir"},
		{"source.ip", nil, ""},
		{"source.address", nil, ""},
		{"user_agent.name", nil, ""},
		{"source.asn", nil, ""},
		{"source.as.number", both, ""},
		{"source.geo.city_name", both, ""},
		{"source.as.number", cityOnly, "ASN database"},
		{"source.geo.city_name", cityOnly, ""},
		{"source.geo.city_name", asnOnly, "City database"},
		{"source.as.organization.name", asnOnly, ""},
		{"p_enrichment.ipinfo_location.sourceIPAddress.country", both, "p_enrichment lookup tables"},
		{"p_enrichment", nil, "p_enrichment"},
		{"p_enrichments_other", nil, ""},
	} {
		got := Unavailable(tc.db)(tc.field)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s (city %v, asn %v): %q, want %q", tc.field, tc.db.HasCity(), tc.db.HasASN(), got, tc.want)
		}
	}
}
