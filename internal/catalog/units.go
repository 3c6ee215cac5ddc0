package catalog

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Forms speak in cores and GiB because that is how people size machines; the database
// stores millicores and MiB so that 0.5 cores or 1.5 GiB stay exact integers.

var (
	errNotNumber = errors.New("not a number")
	// ErrTooPrecise is a fraction that does not come to whole MiB or millicores.
	ErrTooPrecise  = errors.New("too precise")
	errNotPositive = errors.New("not positive")
)

// ParseCores reads "2", "0.5" or Kubernetes' "500m" into millicores (> 0).
func ParseCores(s string) (int, error) {
	s = strings.TrimSpace(s)
	if m, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.Atoi(m)
		if err != nil {
			return 0, errNotNumber
		}
		if n <= 0 {
			return 0, errNotPositive
		}
		return n, nil
	}
	return scaled(s, 1000)
}

// ParseGiB reads "8" or "0.5" (GiB) into MiB (> 0); fractions must come to whole MiB.
func ParseGiB(s string) (int, error) { return scaled(strings.TrimSpace(s), 1024) }

func scaled(s string, unit float64) (int, error) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errNotNumber
	}
	if f <= 0 {
		return 0, errNotPositive
	}
	v := f * unit
	if v > math.MaxInt32 {
		return 0, errNotNumber
	}
	r := math.Round(v)
	if math.Abs(v-r) > 1e-6 || r < 1 {
		return 0, ErrTooPrecise
	}
	return int(r), nil
}

// FormatCores shows millicores as cores ("0.5", "2").
func FormatCores(millis int) string {
	return strconv.FormatFloat(float64(millis)/1000, 'f', -1, 64)
}

// FormatGiB shows MiB as GiB ("0.5", "1.5", "8").
func FormatGiB(mib int) string {
	return strconv.FormatFloat(float64(mib)/1024, 'f', -1, 64)
}

// CPUQuantity is millicores in Kubernetes notation: "2" or "500m".
func CPUQuantity(millis int) string {
	if millis%1000 == 0 {
		return strconv.Itoa(millis / 1000)
	}
	return strconv.Itoa(millis) + "m"
}

// MemoryQuantity is MiB in Kubernetes notation: "8Gi" or "1536Mi".
func MemoryQuantity(mib int) string {
	if mib%1024 == 0 {
		return strconv.Itoa(mib/1024) + "Gi"
	}
	return strconv.Itoa(mib) + "Mi"
}
