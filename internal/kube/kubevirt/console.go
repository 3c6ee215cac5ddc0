package kubevirt

import (
	"context"
	"net"

	"kv-shepherd.io/shepherd/internal/kube"
)

// OpenConsole implements kube.Provider through virt-api's vnc subresource
// (VirtualMachineInstance(ns).VNC: a plain.kubevirt.io websocket through the API
// server's aggregation layer), returned as a net.Conn of raw RFB bytes.
func (p *Provider) OpenConsole(ctx context.Context, ref kube.VMRef, opts kube.ConsoleOptions) (net.Conn, error) {
	if err := kube.ValidateRef(ref); err != nil {
		return nil, err
	}
	st, err := p.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	if st.Phase != kube.PhaseRunning {
		return nil, kube.NewPermanent(kube.CodeVMNotRunning, "virtual machine "+ref.String()+" is not running")
	}
	var stream kubevirtv1StreamConn
	err = p.call(ctx, func(context.Context) error {
		// client-go dials with its own handshake timeout; the call's context only
		// bounds the wait (the breaker still sees the outcome).
		s, err := p.client.VirtualMachineInstance(ref.Namespace).VNC(ref.Name, opts.PreserveSession)
		if err != nil {
			return err
		}
		stream = s
		return nil
	})
	if err != nil {
		switch ke := kube.Classify(err); {
		case ke.Kind == kube.NotFound:
			return nil, kube.NewPermanent(kube.CodeVMNotRunning, "virtual machine "+ref.String()+" has no running instance")
		case ke.Code == kube.CodeConflict && opts.PreserveSession:
			return nil, kube.NewPermanent(kube.CodeConsoleInUse, "the console of "+ref.String()+" is in use by another viewer")
		case ke.Code == kube.CodeValidationFailed:
			// virt-api answers 400 "not running" for a VMI that is not (yet) running.
			return nil, kube.NewPermanent(kube.CodeVMNotRunning, ke.Message)
		}
		return nil, err
	}
	return stream.AsConn(), nil
}

// kubevirtv1StreamConn is the part of client-go's StreamInterface used here.
type kubevirtv1StreamConn interface{ AsConn() net.Conn }
