package adminview

// Override is one spec override of a size, its value as compact JSON.
type Override struct{ Path, Value string }

// SizeDryRunResult is the answer to "Test on cluster": the form's problems, or what
// the cluster said about the sample VM.
type SizeDryRunResult struct {
	// Problems are the form's field errors (label: message) that stopped the test.
	Problems []string
	Valid    bool
	// Simulated says the cluster is simulated, so only KubeVirt's types judged the VM.
	Simulated                bool
	SimulatedNote            string
	Cluster, KubeVirtVersion string
	Namespace, VMName        string
	Template                 string // "" when no active template exists
	Problem, Hint            string
	Preview                  SizePreview
}

// SizePreview is the rendered sample VM in short.
type SizePreview struct {
	CPUCores          string // "2 cores"
	CPU, Memory, GPUs string // "request 1, limit 2", "4Gi (request = limit)", device names
	Overrides         []Override
}
