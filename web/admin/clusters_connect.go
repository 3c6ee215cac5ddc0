package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
	"kv-shepherd.io/shepherd/views/adminview"
	"kv-shepherd.io/shepherd/web/page"
)

// kubeconfigFrom reads the kubeconfig of a register or rotate form: an uploaded file or
// pasted text, not both (which one was meant would be a guess). problem is a field
// error for the admin. The bytes go to the use case only, never into a view model.
func kubeconfigFrom(c echo.Context) (kubeconfig []byte, problem string) {
	pasted := c.FormValue("kubeconfig")
	fh, err := c.FormFile("kubeconfig_file")
	hasFile := err == nil && fh.Size > 0
	switch {
	case hasFile && strings.TrimSpace(pasted) != "":
		return nil, "Upload a file or paste the kubeconfig, not both."
	case !hasFile:
		return []byte(pasted), ""
	case fh.Size > kubevirt.MaxKubeconfigBytes:
		return nil, fmt.Sprintf("The file is larger than %d KiB; a kubeconfig is a few KiB. Is it the right file?", kubevirt.MaxKubeconfigBytes>>10)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "The uploaded file could not be read; try again."
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, kubevirt.MaxKubeconfigBytes+1))
	if err != nil {
		return nil, "The uploaded file could not be read; try again."
	}
	return b, ""
}

// kubeconfigSent reports whether the admin sent a kubeconfig (every refusal of
// kubeconfigFrom means they did), so a re-rendered form asks for it again.
func kubeconfigSent(kc []byte, problem string) bool {
	return problem != "" || strings.TrimSpace(string(kc)) != ""
}

// testConnection answers the "Test connection" button (htmx) with what the kubeconfig
// reaches, saving nothing.
func (h *Handler) testConnection(c echo.Context) error {
	kc, problem := kubeconfigFrom(c)
	if problem != "" {
		return connectionFragment(c, http.StatusUnprocessableEntity, adminview.ConnectionResult{Error: problem})
	}
	conn, err := h.Catalog.TestClusterConnection(c.Request().Context(), actor(c), kc)
	var ce *catalog.ConnectionError
	switch {
	case errors.As(err, &ce):
		return connectionFragment(c, http.StatusUnprocessableEntity, adminview.ConnectionResult{Error: ce.Message, Hint: ce.Hint})
	case err != nil:
		return loadError(err)
	}
	return connectionFragment(c, http.StatusOK, adminview.ConnectionResult{
		OK:         true,
		Server:     conn.Info.Server,
		Context:    conn.Info.Context,
		User:       conn.Info.User,
		AuthMethod: conn.Info.AuthMethod,
		Caps:       capabilities(conn.Caps),
		Took:       conn.Took.Round(time.Millisecond).String(),
	})
}

func connectionFragment(c echo.Context, status int, r adminview.ConnectionResult) error {
	return page.Render(c, status, adminview.ConnectionResultBlock(r))
}

func capabilities(k kube.Capabilities) adminview.Capabilities {
	return adminview.Capabilities{
		KubernetesVersion:   k.KubernetesVersion,
		KubeVirtVersion:     k.KubeVirtVersion,
		StorageClasses:      k.StorageClasses,
		DefaultStorageClass: k.DefaultStorageClass,
		GPUDevices:          k.GPUDevices,
		Hugepages:           k.Hugepages,
		SRIOVNetworks:       k.SRIOVNetworks,
		DedicatedCPU:        k.DedicatedCPU,
	}
}
