package elastic

import "testing"

// FuzzParse: any rule file either loads or fails with an error naming it.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[rule]\nrule_id = \"r\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"a:b and not c:(d or e*)\"\n"))
	f.Add([]byte("[rule]\nrule_id = \"r\"\ninterval = \"5m\"\nfrom = \"now-6m\"\n[rule.threshold]\nfield = [\"a\"]\nvalue = 3\n"))
	f.Add([]byte("[rule]\nrule_id = \"r\"\n[rule.alert_suppression]\ngroup_by = [\"a\"]\nduration = {value = 5, unit = \"m\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.toml", data)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Path != "fuzz.toml" {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if r.ID == "" {
			t.Fatal("rule without id loaded")
		}
	})
}
