package sim

import (
	"context"
	"net"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/rfb"
)

// OpConsole is the FailNext name of OpenConsole.
const OpConsole = "OpenConsole"

// console is a running VM's screen: one RFB server for the life of the VM instance
// (a restart or stop tears it down, as KubeVirt's VNC socket goes with the VMI) and
// the viewer currently attached. Like virt-handler, one viewer at a time: a second
// one either takes over or is refused (PreserveSession).
type console struct {
	srv    *rfb.Server
	viewer net.Conn
}

// OpenConsole implements kube.Provider: a live RFB stream of the VM's screen, a boot
// log and a login prompt that echoes what is typed and reboots on Ctrl-Alt-Del.
func (c *Cluster) OpenConsole(ctx context.Context, ref kube.VMRef, opts kube.ConsoleOptions) (net.Conn, error) {
	v, err := c.lookup(ctx, OpConsole, ref)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if v.deleting || v.status.Phase != kube.PhaseRunning {
		return nil, kube.NewPermanent(kube.CodeVMNotRunning, "virtual machine "+ref.String()+" is not running")
	}
	if v.console == nil {
		bootDelay := c.opts.ConsoleBootDelay
		if bootDelay == 0 {
			bootDelay = rfb.DefaultBootDelay
		}
		v.console = &console{srv: rfb.NewServer(rfb.Options{
			Name:      ref.String(),
			Hostname:  ref.Name,
			BootDelay: max(bootDelay, 0),
		})}
	}
	if v.console.viewer != nil {
		if opts.PreserveSession {
			return nil, kube.NewPermanent(kube.CodeConsoleInUse, "the console of "+ref.String()+" is in use by another viewer")
		}
		_ = v.console.viewer.Close()
	}
	client, server := net.Pipe()
	v.console.viewer = client
	cons := v.console
	c.run.Go("sim console "+ref.String(), func(ctx context.Context) error {
		_ = cons.srv.ServeConn(ctx, server) // ends with the viewer, the VM instance or the cluster
		c.mu.Lock()
		defer c.mu.Unlock()
		if cons.viewer == client {
			cons.viewer = nil
		}
		return nil
	})
	return client, nil
}

// closeConsoleLocked ends v's screen and disconnects its viewer.
func (c *Cluster) closeConsoleLocked(v *vm) {
	if v.console == nil {
		return
	}
	v.console.srv.Close()
	if v.console.viewer != nil {
		_ = v.console.viewer.Close()
	}
	v.console = nil
}

// ConsoleText is what the VM's screen shows now ("" without a console), for tests
// that type into a console and check that it took effect.
func (c *Cluster) ConsoleText(ref kube.VMRef) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vms[ref]
	if !ok || v.console == nil {
		return ""
	}
	return v.console.srv.Text()
}

// ConsoleReboots counts the Ctrl-Alt-Deletes the VM's console has seen.
func (c *Cluster) ConsoleReboots(ref kube.VMRef) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vms[ref]
	if !ok || v.console == nil {
		return 0
	}
	return v.console.srv.Reboots()
}
