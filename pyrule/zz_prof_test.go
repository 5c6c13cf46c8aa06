package pyrule

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
)

func TestZZProf(t *testing.T) {
	dir := filepath.Join(corpus, "panther-analysis")
	rules, _ := catalog.Load([]string{dir}, catalog.Options{})
	rt, err := New(context.Background(), rules, Options{CacheDir: t.TempDir(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		res, err := hunt.Run(context.Background(), eng, hunt.Options{Paths: []string{os.Getenv("DATA")}, Workers: 1, Prepare: rt.Prepare})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d alerts %+v", len(res.Alerts), rt.Stats())
	}
}
