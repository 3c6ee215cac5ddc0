package adminview

// Reconcile is the cluster sync page: health and capabilities per cluster, ghost VMs
// (rows whose cluster object is gone) and orphans awaiting adoption.
type Reconcile struct {
	Clusters   []SyncCluster
	Ghosts     []GhostRow
	GhostTotal int // may exceed len(Ghosts): the list is capped
	Orphans    []OrphanRow
}

// SyncCluster is one cluster's health as the last check saw it.
type SyncCluster struct {
	ID, Name, Environment, Provider, Status, StatusMessage string
	Enabled                                                bool
	KubeVirtVersion                                        string
	Capabilities                                           []string
	StorageClasses                                         []string
	DefaultStorageClass                                    string
	LastCheck, LastCheckTitle                              string
}

// GhostRow is a VM Shepherd keeps whose cluster object was not found.
type GhostRow struct {
	ID, Name, Cluster, Namespace, Status, Message string
	Seen, SeenTitle                               string // when sync or reconcile noticed
}

// OrphanRow is a VM with Shepherd's labels that no record describes.
type OrphanRow struct {
	Cluster, Namespace, Name, System, Service, Instance, Status string
	Adoptable                                                   bool
	LastSeen, LastSeenTitle                                     string
}
