// Package pgembed runs a private PostgreSQL server out of a local directory.
//
// It backs the application's embedded default database (`make run`) and the
// test suite (`shepherd pg-exec`). The server listens on 127.0.0.1 only and
// uses trust authentication, so there are no passwords anywhere.
//
// PostgreSQL refuses to run as root. When the current process is root, the
// data directory is handed to the `postgres` system user and every
// PostgreSQL binary runs with that user's credentials.
package pgembed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Start.
type Options struct {
	// Dir is the data root, e.g. ".data/pg". The cluster lives in Dir/data;
	// the Unix socket and postgres.log live in Dir itself.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Fast trades durability for speed (fsync, synchronous_commit and
	// full_page_writes off). Meant for tests.
	Fast bool
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Install allows running `apt-get update` and `apt-get install -y
	// postgresql` when no PostgreSQL binaries are found and we are root.
	Install bool
}

// Instance is a running private PostgreSQL server.
type Instance struct {
	dir     string // absolute data root
	dataDir string // dir/data
	binDir  string
	port    int
	cred    *syscall.Credential // nil: run PostgreSQL binaries as the current user
	logger  *slog.Logger
	started bool
}

// Start starts the server described by opts, creating the cluster first if
// needed. When a server is already running on the same data directory, it is
// reused: left alone (Started false) while the process that started it runs,
// adopted (Started true: Stop stops it) when that process is gone.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgembed: Options.Dir is empty")
	}
	if opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pgembed: invalid port %d", opts.Port)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	inst := &Instance{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		port:    opts.Port,
		logger:  logger.With("component", "pgembed"),
	}
	if inst.binDir, err = binDirFor(ctx, inst.dataDir, opts.Install, inst.logger); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if inst.cred, err = postgresCredential(); err != nil {
			return nil, err
		}
	}
	if err := inst.prepareDir(); err != nil {
		return nil, err
	}

	initialized := fileExists(filepath.Join(inst.dataDir, "PG_VERSION"))
	if initialized {
		running, err := inst.running(ctx)
		if err != nil {
			return nil, err
		}
		if running {
			inst.reuse(opts.Port)
			return inst, nil
		}
		_ = os.Remove(inst.ownerFile()) // a server that is gone owns nothing
	}

	if err := checkPortFree(opts.Port); err != nil {
		return nil, err
	}
	if !initialized {
		if err := inst.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if err := inst.start(ctx, opts.Fast); err != nil {
		return nil, err
	}
	inst.started = true
	inst.claim()
	inst.logger.Info("PostgreSQL started", "dir", inst.dir, "port", inst.port)
	return inst, nil
}

// ownerFile names the process that started (or adopted) the server: it stops it.
func (i *Instance) ownerFile() string { return filepath.Join(i.dir, "owner.pid") }

// claim records this process as the server's owner.
func (i *Instance) claim() {
	if err := os.WriteFile(i.ownerFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		i.logger.Warn("cannot record the owner of PostgreSQL", "file", i.ownerFile(), "err", err)
	}
}

// ownerAlive reports whether the process recorded as owner still runs (and is not us).
func (i *Instance) ownerAlive() (int, bool) {
	b, err := os.ReadFile(i.ownerFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return pid, false
	}
	if pid == os.Getpid() {
		return pid, true // another Instance of this process started it
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return pid, false
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}

// Alive reports whether the server still runs on the data directory.
func (i *Instance) Alive(ctx context.Context) bool {
	ok, err := i.running(ctx)
	return err == nil && ok
}

// Dir is the instance's directory (data, log, socket); LogFile its server log.
func (i *Instance) Dir() string     { return i.dir }
func (i *Instance) LogFile() string { return filepath.Join(i.dir, "postgres.log") }

// LogTail is the last n lines of the server log.
func (i *Instance) LogTail(n int) string { return logTail(i.LogFile(), n) }

// DSN returns a connection string for database on this server.
func (i *Instance) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", i.port, url.PathEscape(database))
}

// Port returns the TCP port the server listens on. It differs from
// Options.Port only when a running server was reused.
func (i *Instance) Port() int { return i.port }

// Started reports whether Start started the server (false when it found
// one already running on the data directory and reused it).
func (i *Instance) Started() bool { return i.started }

// EnsureDatabase creates the database name unless it already exists.
func (i *Instance) EnsureDatabase(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("pgembed: empty database name")
	}
	conn, err := pgx.Connect(ctx, i.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: connecting to PostgreSQL on port %d: %w", i.port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgembed: looking up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// Someone else may have created it between our check and CREATE: the
	// loser gets duplicate_database or, inside the catalog, unique_violation.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgembed: creating database %q: %w", name, err)
	}
	i.logger.Info("created database", "name", name)
	return nil
}

// Stop shuts the server down (fast mode: open sessions are disconnected)
// if this Instance started it; otherwise it does nothing.
func (i *Instance) Stop(ctx context.Context) error {
	if !i.started {
		return nil
	}
	out, err := i.run(ctx, "pg_ctl", "stop", "-D", i.dataDir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		// Already gone (stopped by someone else, or crashed) is fine.
		if running, statusErr := i.running(ctx); statusErr != nil || running {
			return fmt.Errorf("pgembed: pg_ctl stop: %w\n%s", err, strings.TrimSpace(out))
		}
	}
	i.started = false
	_ = os.Remove(i.ownerFile())
	i.logger.Info("PostgreSQL stopped", "dir", i.dir)
	return nil
}

// reuse adopts the server already running on the data directory.
func (i *Instance) reuse(wantPort int) {
	if port, err := i.runningPort(); err == nil && port != wantPort {
		i.logger.Warn("reusing PostgreSQL that runs on a different port than requested",
			"dir", i.dir, "port", port, "requested", wantPort)
		i.port = port
	}
	// A server whose owner is gone was left behind by a run that crashed: adopt it, so
	// it is stopped when this run ends. One whose owner lives is shared, and left alone.
	if pid, alive := i.ownerAlive(); alive {
		i.logger.Info("reusing PostgreSQL started by another running process; it stays up when this one ends",
			"dir", i.dir, "port", i.port, "owner_pid", pid)
		return
	}
	i.started = true
	i.claim()
	i.logger.Info("adopting PostgreSQL left running by an earlier run that ended abruptly; it will be stopped when this run ends",
		"dir", i.dir, "port", i.port)
}

// prepareDir creates the data root and, as root, hands it to postgres.
func (i *Instance) prepareDir() error {
	// Parents get 0755 so that the postgres user can traverse them.
	if err := os.MkdirAll(filepath.Dir(i.dir), 0o755); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if err := os.Mkdir(i.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgembed: %w", err)
	}
	if i.cred == nil {
		return nil
	}
	if err := ensureTraversable(filepath.Dir(i.dir), i.cred, i.logger); err != nil {
		return err
	}
	return chownTree(i.dir, int(i.cred.Uid), int(i.cred.Gid))
}

// running asks pg_ctl whether a server runs on the data directory.
func (i *Instance) running(ctx context.Context) (bool, error) {
	out, err := i.run(ctx, "pg_ctl", "status", "-D", i.dataDir)
	if err == nil {
		return true, nil
	}
	// Exit status 3 means "no server running". A postmaster.pid left behind
	// by a killed server also yields 3: pg_ctl checks whether that PID lives.
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 3 {
		return false, nil
	}
	return false, fmt.Errorf("pgembed: pg_ctl status: %w\n%s", err, strings.TrimSpace(out))
}

// runningPort reads the port from postmaster.pid (its fourth line).
func (i *Instance) runningPort() (int, error) {
	b, err := os.ReadFile(filepath.Join(i.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, errors.New("short postmaster.pid")
	}
	return strconv.Atoi(strings.TrimSpace(lines[3]))
}

// initdb creates the cluster in a scratch directory and renames it into
// place, so that an interrupted initdb never leaves a half-made Dir/data
// behind that later runs would try to start.
func (i *Instance) initdb(ctx context.Context) error {
	tmp := i.dataDir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if fileExists(i.dataDir) {
		return fmt.Errorf("pgembed: %s exists but holds no PostgreSQL cluster (no PG_VERSION); remove it to start afresh", i.dataDir)
	}
	i.logger.Info("creating PostgreSQL cluster", "dir", i.dataDir)
	// Not cancellable: killing initdb half-way would only leave debris.
	out, err := i.run(context.WithoutCancel(ctx), "initdb",
		"-D", tmp, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("pgembed: initdb: %w\n%s", err, strings.TrimSpace(out))
	}
	if err := os.Rename(tmp, i.dataDir); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return nil
}

func (i *Instance) start(ctx context.Context, fast bool) error {
	// pg_ctl hands -o to /bin/sh, hence the quoting of the socket dir.
	opts := []string{"-p", strconv.Itoa(i.port), "-c", "listen_addresses=127.0.0.1"}
	// A Unix socket path is limited to 107 bytes; we connect over TCP
	// anyway, so a deep Dir just goes without a socket.
	if len(i.dir)+len("/.s.PGSQL.65535") <= 107 {
		opts = append(opts, "-k", shellQuote(i.dir))
	} else {
		opts = append(opts, "-k", "''")
	}
	if fast {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logFile := filepath.Join(i.dir, "postgres.log")
	args := []string{"start", "-D", i.dataDir, "-l", logFile, "-w", "-t", "60", "-o", strings.Join(opts, " ")}

	var out string
	var err error
	// After a SIGKILLed postmaster, its children take a moment to notice and
	// exit; until then PostgreSQL refuses to start ("pre-existing shared
	// memory block is still in use"). Retry for a few seconds in that case.
	for attempt := 0; ; attempt++ {
		// Not cancellable: a postmaster may come up after pg_ctl is killed,
		// and nobody would stop it.
		out, err = i.run(context.WithoutCancel(ctx), "pg_ctl", args...)
		if err == nil {
			return nil
		}
		if attempt >= 10 || !strings.Contains(logTail(logFile, 10), "is still in use") {
			break
		}
		i.logger.Info("waiting for the processes of a killed PostgreSQL to exit")
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("pgembed: pg_ctl start on port %d failed: %w\n%s\n--- last lines of %s ---\n%s",
		i.port, err, strings.TrimSpace(out), logFile, logTail(logFile, 20))
}

// checkPortFree fails when another process listens on 127.0.0.1:port.
func checkPortFree(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("pgembed: port %d on 127.0.0.1 is already in use by another process; "+
			"choose another port (Options.Port, e.g. the --port flag): %w", port, err)
	}
	return ln.Close()
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return tail(string(b), n)
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
