package conformance

import (
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/rfb"
)

// testConsole: a running VM's console answers an RFB 3.8 handshake and paints a
// frame; a stopped VM's console is a typed error, as is a missing VM's.
func testConsole(t *testing.T, p kube.Provider) {
	ctx, ns := ctxFor(t), newNS(t, p)
	ref := kube.VMRef{Namespace: ns, Name: "vm-console"}
	_, err := p.ApplyVM(ctx, vmSpec(ns, ref.Name, true))
	must(t, "ApplyVM", err)
	waitPhase(t, p, ref, kube.PhaseRunning)

	conn, err := p.OpenConsole(ctx, ref, kube.ConsoleOptions{})
	must(t, "OpenConsole", err)
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	c, err := rfb.NewClient(conn)
	must(t, "RFB handshake", err)
	if c.Init.Width == 0 || c.Init.Height == 0 {
		t.Errorf("ServerInit with an empty framebuffer: %+v", c.Init)
	}
	must(t, "FramebufferUpdateRequest", c.RequestUpdate(false))
	rects, err := c.ReadUpdate()
	must(t, "FramebufferUpdate", err)
	if len(rects) == 0 {
		t.Error("the first update carried no rectangle")
	}
	_ = c.Close()

	must(t, "StopVM", p.StopVM(ctx, ref))
	waitPhase(t, p, ref, kube.PhaseStopped)
	if _, err := p.OpenConsole(ctx, ref, kube.ConsoleOptions{}); !kube.IsPermanent(err) || kube.Classify(err).Code != kube.CodeVMNotRunning {
		t.Errorf("console of a stopped VM: err = %v, want permanent %s", err, kube.CodeVMNotRunning)
	}
	missing := kube.VMRef{Namespace: ns, Name: "no-such-vm"}
	if _, err := p.OpenConsole(ctx, missing, kube.ConsoleOptions{}); !kube.IsNotFound(err) {
		t.Errorf("console of a missing VM: err = %v, want NotFound", err)
	}
}
