package catalog_test

import (
	"testing"

	"kv-shepherd.io/shepherd/internal/catalog"
)

func TestParseUnits(t *testing.T) {
	t.Parallel()
	cores := map[string]int{"2": 2000, "0.5": 500, " 1.25 ": 1250, "500m": 500, "0,5": 500}
	for in, want := range cores {
		if got, err := catalog.ParseCores(in); err != nil || got != want {
			t.Errorf("ParseCores(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "0", "-1", "0.0001", "NaN", "0m", "1e10"} {
		if got, err := catalog.ParseCores(bad); err == nil {
			t.Errorf("ParseCores(%q) = %d, want an error", bad, got)
		}
	}
	gib := map[string]int{"8": 8192, "0.5": 512, "1.5": 1536, "0.25": 256}
	for in, want := range gib {
		if got, err := catalog.ParseGiB(in); err != nil || got != want {
			t.Errorf("ParseGiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"0.1", "0", "-2", "big", "Inf"} {
		if got, err := catalog.ParseGiB(bad); err == nil {
			t.Errorf("ParseGiB(%q) = %d, want an error", bad, got)
		}
	}
	if catalog.FormatGiB(1536) != "1.5" || catalog.FormatCores(500) != "0.5" || catalog.FormatGiB(8192) != "8" {
		t.Error("format round trip")
	}
}
