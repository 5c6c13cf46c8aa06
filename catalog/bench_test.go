package catalog

import "testing"

// BenchmarkLoadCorpus loads every Elastic and Sigma rule of the shared
// corpus, as each hunt with them starts by doing.
func BenchmarkLoadCorpus(b *testing.B) {
	dirs := []string{"../../shared/corpus/elastic-rules", "../../shared/corpus/sigma-rules"}
	for b.Loop() {
		rs, errs := Load(dirs, Options{})
		if len(rs) == 0 {
			b.Skipf("no rules loaded from %v (the shared corpus beside the repo): %v", dirs, errs)
		}
	}
}
