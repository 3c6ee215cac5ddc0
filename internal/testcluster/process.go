package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"kv-shepherd.io/shepherd/internal/runner"
)

// proc is one child process (etcd or kube-apiserver) with its output in a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // exit error, valid after done
}

// startProc starts path with args. The child gets its own process group so that a Ctrl-C in
// the terminal reaches only the launcher, which then stops the children in the right order
// (API server before etcd). Pdeathsig kills the child if the launcher dies without stopping
// it; Go only retires an OS thread when a goroutine locked to it exits, which nothing here
// does, so the signal fires only when the launcher process itself is gone.
func startProc(r *runner.Runner, dir, name, path string, args []string) (*proc, error) {
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("testcluster: starting %s: %w", name, err)
	}
	r.Go("testcluster-wait-"+name, func(context.Context) error {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
		return nil
	})
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to terminate and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// failure describes an unexpected exit, with the end of the log: the reason is nearly always there.
func (p *proc) failure() error {
	return fmt.Errorf("testcluster: %s exited (%v); last log lines:\n%s", p.name, p.err, tail(p.logPath, 15))
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// freePorts returns n distinct free loopback TCP ports. They are released before use, so
// another process could grab one in between; on a test machine that is rare enough, and the
// child's failure then names the port in its log.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lockDir takes an exclusive, non-blocking lock on dir so that two launchers never share one
// state directory (they would wipe each other's etcd data).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("testcluster: %s is in use by another test cluster", dir)
		}
		return nil, err
	}
	return f, nil
}

// findEtcd prefers an explicit path, then $PATH, then Debian's location.
func findEtcd(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("testcluster: etcd not found: apt-get install -y etcd-server")
}
