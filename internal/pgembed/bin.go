package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// installHint says what to install when no PostgreSQL server is found.
const installHint = "install the PostgreSQL server: `apt-get install -y postgresql` on Debian/Ubuntu " +
	"(other systems: a package that provides initdb and pg_ctl, e.g. `brew install postgresql@15`)"

// FindBinDir returns the directory holding the PostgreSQL server binaries
// (initdb, pg_ctl): the highest /usr/lib/postgresql/*/bin, else what
// `pg_config --bindir` reports, else the directory of pg_ctl on PATH.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Sort by major version numerically ("9.6" < "15" < "16").
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	for _, d := range slices.Backward(dirs) {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); hasServerBinaries(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && hasServerBinaries(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgembed: PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, " +
		"`pg_config --bindir` or PATH; " + installHint)
}

// binDirFor picks the binaries for dataDir: those of the major version
// that created the cluster if installed, else FindBinDir. If nothing is
// found and install is set, it installs PostgreSQL with apt-get.
func binDirFor(ctx context.Context, dataDir string, install bool, logger *slog.Logger) (string, error) {
	if v, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		d := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin")
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	dir, err := FindBinDir()
	if err == nil || !install {
		return dir, err
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w (automatic installation needs root)", err)
	}
	if _, lookErr := exec.LookPath("apt-get"); lookErr != nil {
		return "", fmt.Errorf("%w (automatic installation needs apt-get)", err)
	}
	if err := aptInstall(ctx, logger); err != nil {
		return "", err
	}
	return FindBinDir()
}

func aptInstall(ctx context.Context, logger *slog.Logger) error {
	for _, args := range [][]string{{"update"}, {"install", "-y", "postgresql"}} {
		logger.Info("PostgreSQL not found, installing it (this can take a minute)",
			"command", "apt-get "+strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pgembed: apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 20))
		}
	}
	logger.Info("PostgreSQL installed")
	return nil
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

// compareVersions compares dotted version strings numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for k := 0; k < len(as) || k < len(bs); k++ {
		var x, y int
		if k < len(as) {
			x, _ = strconv.Atoi(as[k])
		}
		if k < len(bs) {
			y, _ = strconv.Atoi(bs[k])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// postgresCredential returns the credentials of the `postgres` system user,
// which PostgreSQL binaries must run as when we are root.
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgembed: running as root, but PostgreSQL refuses to run as root and there is no "+
			"`postgres` system user to run it as (%v); %s, or run as a non-root user", err, installHint)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgembed: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgembed: gid of postgres: %w", err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

// ensureTraversable makes sure the user in cred can reach dir: every path component
// needs the search bit for it. PostgreSQL refuses to run as root, so we run it as
// postgres, and a checkout in a private directory (mktemp -d makes 0700 ones) would
// otherwise stop `make test` and `make run`. When we own a blocking directory we add
// only the others' search bit (o+x: passage, not listing) and say so; otherwise the
// error says what to do.
func ensureTraversable(dir string, cred *syscall.Credential, logger *slog.Logger) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := st.Mode().Perm()
		inGroup := sys.Gid == cred.Gid || slices.Contains(cred.Groups, sys.Gid)
		if !(mode&0o001 != 0 || sys.Uid == cred.Uid && mode&0o100 != 0 || inGroup && mode&0o010 != 0) {
			if int(sys.Uid) != os.Geteuid() || os.Chmod(d, mode|0o001) != nil {
				return fmt.Errorf("pgembed: PostgreSQL runs as the postgres user, which cannot enter %s (mode %v, owner uid %d): "+
					"run `chmod o+x %s` or choose a data directory elsewhere", d, mode, sys.Uid, d)
			}
			logger.Warn("let the postgres user pass through a private directory (added o+x, no listing)", "dir", d, "was", mode.String())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// chownTree gives root and everything below it to uid:gid. It skips the
// walk when root already belongs to uid: then everything below was created
// by PostgreSQL itself.
func chownTree(root string, uid, gid int) error {
	if st, err := os.Stat(root); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == uid {
			return nil
		}
	}
	err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgembed: handing %s to the postgres user: %w", root, err)
	}
	return nil
}

// run runs a PostgreSQL binary as the server's user and returns its
// combined output.
func (i *Instance) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(i.binDir, name), args...)
	// The postgres user may not be able to enter our working directory.
	cmd.Dir = i.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// A process group of its own keeps a terminal's Ctrl-C (SIGINT to the
	// foreground group) away from the postmaster, which pg_ctl starts as a
	// child. The server is stopped explicitly instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: i.cred, Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl redirects the postmaster's output to the log file, but do not
	// hang forever should some child keep our pipe open.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
