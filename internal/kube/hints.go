package kube

// Hint tells an admin what they can do about a failed cluster operation, by its error
// code (flows §2.16.3). namespace and cluster name the place it failed. Notifications
// and the VM and request pages all show this text.
func Hint(code, namespace, cluster string) string {
	switch code {
	case "":
		return ""
	case CodeNamespacePermissionDenied:
		return "Shepherd may not create namespace " + namespace + " on " + cluster + ". An admin can pre-create it (kubectl create namespace " +
			namespace + "), grant Shepherd's service account namespaces:create, or approve again on another cluster."
	case CodeNamespaceQuotaExceeded, CodeQuotaExceeded:
		return "The quota on " + cluster + " is exhausted. An admin can raise the quota of namespace " + namespace +
			", or approve again on another cluster or with a smaller size."
	case CodeNamespaceCreationFailed:
		return "Namespace " + namespace + " could not be created on " + cluster + ". An admin can pre-create it (kubectl create namespace " +
			namespace + ") and request again."
	case CodeClusterUnhealthy, CodeTimeout, CodeClusterRebuilding, CodeRateLimited, CodeConflict, CodeInternal:
		return "Cluster " + cluster + " did not answer in time. An admin can check its health under Admin → Cluster sync, then request again."
	case CodePermissionDenied:
		return "Shepherd's service account lacks a permission on " + cluster + ". An admin should check its RBAC."
	case CodeValidationFailed, CodeNamespaceNameInvalid:
		return "The cluster refused the VM definition. An admin should check the template and the size."
	case CodeVMNotFound, CodeResourceNotFound:
		return "The VM no longer exists on " + cluster + "; it may have been deleted outside Shepherd."
	}
	return "An admin can see the job and its errors under Admin → Jobs."
}
