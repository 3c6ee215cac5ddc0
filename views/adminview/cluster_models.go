package adminview

// ClusterList is the clusters page.
type ClusterList struct{ Rows []ClusterRow }

// ClusterRow is one cluster in the list.
type ClusterRow struct {
	ID, Name, Environment, Provider, Status, StatusMessage string
	Weight                                                 int
	StorageClasses                                         []string
	DefaultStorageClass                                    string
	Capabilities                                           []string
	Enabled                                                bool
	LastCheck, LastCheckTitle                              string
}

// ClusterForm is the register and edit form; lists are comma-separated text. A
// kubevirt cluster's capabilities are detected, so its form has no hardware fields.
type ClusterForm struct {
	ID                                  string
	Name, Environment, Provider         string
	Weight                              string
	StorageClasses, DefaultStorageClass string
	// DetectedClasses are a kubevirt cluster's storage classes, the choices of its default.
	DetectedClasses []string
	GPUDevices      string
	Hugepages       []string
	DedicatedCPU    bool
	// KubeconfigDropped: the refused submission carried a kubeconfig, which is never
	// echoed into a page; the form asks for it again.
	KubeconfigDropped bool
	Errors            Errors
	Message           string
}

// ClusterPage is one cluster: what it is, how it is reached, how it has been doing.
type ClusterPage struct {
	ID, Name, Environment, Provider string
	Status, StatusMessage           string
	Enabled                         bool
	Weight                          int
	APIServerURL                    string
	Caps                            Capabilities
	LastCheck, LastCheckTitle       string
	Registered, RegisteredTitle     string
	Credentials                     Credentials
	LiveVMs, OpenTickets            int
	History                         []HealthRow
	HistoryLimit                    int
	Rotate                          RotateForm
	Delete                          DeleteForm
}

// Credentials describes a real cluster's stored kubeconfig without showing it.
type Credentials struct {
	Stored                bool
	AuthMethod, Context   string
	Rotated, RotatedTitle string
}

// HealthRow is one health check of the history.
type HealthRow struct {
	At, AtTitle       string
	Status, Message   string
	KubernetesVersion string
	KubeVirtVersion   string
	Duration          string
}

// RotateForm is the credential rotation form's state after a refused submission.
type RotateForm struct {
	Open              bool
	KubeconfigDropped bool
	Errors            Errors
}

// DeleteForm is the danger zone: refused while something still uses the cluster.
type DeleteForm struct {
	Open        bool
	Blocked     string // why it cannot be deleted now; the form is hidden
	ConfirmName string
	Error       string
}

// Capabilities are what a cluster offers, as detected (or, for a simulated cluster,
// as recorded).
type Capabilities struct {
	KubernetesVersion, KubeVirtVersion   string
	StorageClasses                       []string
	DefaultStorageClass                  string
	GPUDevices, Hugepages, SRIOVNetworks []string
	DedicatedCPU                         bool
}

// ConnectionResult is what "Test connection" found, or why it failed.
type ConnectionResult struct {
	OK                                bool
	Server, Context, User, AuthMethod string
	Caps                              Capabilities
	Took                              string
	Error, Hint                       string
}

// ClusterStatusWord says a cluster status for people.
func ClusterStatusWord(status string) string {
	switch status {
	case "HEALTHY":
		return "Healthy"
	case "UNHEALTHY":
		return "Unhealthy"
	case "UNREACHABLE":
		return "Unreachable"
	case "UNKNOWN", "":
		return "Not checked yet"
	}
	return status
}

// ProviderLabel names a provider for people.
func ProviderLabel(provider string) string {
	switch provider {
	case "kubevirt":
		return "KubeVirt"
	case "sim":
		return "Simulated"
	}
	return provider
}
