// Package app is Shepherd's composition root: it builds every dependency by hand, in one
// place, and runs the web server, River and background loops until the context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"k8s.io/klog/v2"
	"riverqueue.com/riverui"

	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/devoidc"
	"kv-shepherd.io/shepherd/internal/governance"
	"kv-shepherd.io/shepherd/internal/idp"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/jobs/approvaloverdue"
	"kv-shepherd.io/shepherd/internal/jobs/auditretention"
	"kv-shepherd.io/shepherd/internal/jobs/auditwebhook"
	"kv-shepherd.io/shepherd/internal/jobs/clusterhealth"
	"kv-shepherd.io/shepherd/internal/jobs/liveness"
	"kv-shepherd.io/shepherd/internal/jobs/reconcile"
	"kv-shepherd.io/shepherd/internal/jobs/sessioncleanup"
	"kv-shepherd.io/shepherd/internal/jobs/vmcreate"
	"kv-shepherd.io/shepherd/internal/jobs/vmdelete"
	"kv-shepherd.io/shepherd/internal/jobs/vmpower"
	"kv-shepherd.io/shepherd/internal/live"
	"kv-shepherd.io/shepherd/internal/provisioning"
	"kv-shepherd.io/shepherd/internal/ratelimit"
	"kv-shepherd.io/shepherd/internal/runner"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/statussync"
	"kv-shepherd.io/shepherd/internal/systems"
	"kv-shepherd.io/shepherd/web"
	"kv-shepherd.io/shepherd/web/signin"
)

var klogOnce sync.Once

// DevIssuerPath is where the development OIDC provider lives in dev mode.
const DevIssuerPath = "/dev/oidc"

// App is a fully wired Shepherd process.
type App struct {
	Config     *config.Config
	Logger     *slog.Logger
	Pool       *pgxpool.Pool
	Store      *db.Store
	River      *river.Client[pgx.Tx]
	Liveness   *liveness.Monitor // heartbeat; hands back the jobs of dead processes
	Echo       *echo.Echo
	DevIssuer  *devoidc.Issuer
	OIDC       *auth.OIDC // the OIDC provider, nil when none is configured
	Sessions   *auth.SessionStore
	Clusters   *clusters.Registry
	Executor   *provisioning.Executor
	StatusSync *statussync.Syncer
	// ConsoleAccess decides and records console sessions; ConsoleHub runs them.
	ConsoleAccess *console.Access
	ConsoleHub    *console.Hub
	Live          *live.Hub // fans committed changes out to open pages
	Limits        *ratelimit.Limiter
	IdP           *idp.Service   // the identity providers added in the portal
	liveListener  *live.Listener // feeds Live
	jobsUI        *riverui.Handler
	metrics       *prometheus.Registry
	metricsAddr   atomic.Value // string: where /metrics is served, once Run listens
}

// MetricsAddr is the address /metrics is served on ("" before Run, or when off).
func (a *App) MetricsAddr() string {
	s, _ := a.metricsAddr.Load().(string)
	return s
}

// New connects to the database, migrates, seeds and wires everything; nothing runs yet.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, &config.FieldError{Key: "DATABASE_URL", Message: "is required (or use `shepherd dev` for a private database)"}
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: int32(cfg.DBMaxConns)})
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Logger: logger, Pool: pool}
	if err := a.wire(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) wire(ctx context.Context) error {
	cfg, logger := a.Config, a.Logger
	// client-go logs through klog (watch restarts, throttling); send it to our log. klog
	// is process-global: the first app of the process owns it (tests start several).
	// The same warning repeats once a minute at most (an unreachable cluster's informers
	// retry every few seconds).
	klogOnce.Do(func() {
		klog.SetSlogLogger(slog.New(newLimitHandler(logger.Handler(), time.Minute)).With("component", "client-go"))
	})
	if err := db.Migrate(ctx, a.Pool, logger); err != nil {
		return err
	}
	a.Store = db.NewStore(db.SQLDB(a.Pool))
	if err := seed.Base(ctx, a.Store); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// IdP users recorded before issuers were (migration 0020) belong to the provider
	// configured now: the external issuer, or the development issuer in dev mode.
	issuerKey := cfg.OIDCIssuer
	if issuerKey == "" && cfg.DevMode {
		issuerKey = auth.DevIssuerKey
	}
	if n, err := auth.AdoptUnassignedIdentities(ctx, a.Store.Ent, issuerKey); err != nil {
		return fmt.Errorf("recording the issuer of existing IdP users: %w", err)
	} else if n > 0 {
		logger.Info("IdP users from before issuers were recorded now belong to the configured issuer", "users", n, "issuer", issuerKey)
	}
	switch {
	case cfg.DevMode && cfg.OIDCIssuer == "":
		if err := seed.Demo(ctx, a.Store); err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
	case cfg.DevMode:
		// An external issuer decides who exists: no demo users (nor their group mappings,
		// which would hand roles to that IdP's groups of the same names).
		logger.Info("development mode with an external issuer (SHEPHERD_OIDC_ISSUER): demo users are not seeded; the demo catalogue is")
		if err := seed.DemoCatalog(ctx, a.Store); err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
	}
	keys, err := secrets.Ensure(ctx, a.Store.Ent, cfg.EncryptionKeyBytes, cfg.SessionSecretBytes, logger)
	if err != nil {
		return err
	}
	a.Sessions = auth.NewSessionStore(a.Store.Ent, keys.Session, cfg.SecureCookies(), cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	authSvc := &auth.Service{Store: a.Store, Policy: password.Policy{Mode: cfg.PasswordPolicy}, Logger: logger}

	deps := &web.Deps{Config: cfg, Logger: logger, Store: a.Store, Pool: a.Pool, Sessions: a.Sessions, Auth: authSvc,
		Registry: prometheus.NewRegistry()}
	a.Limits = &ratelimit.Limiter{Store: a.Store, Limits: ratelimit.Limits{
		GlobalPerMinute:       cfg.RateLimitGlobalPerMinute,
		UserPerMinute:         cfg.RateLimitUserPerMinute,
		PendingBatches:        cfg.RateLimitPendingBatches,
		UserPendingBatches:    cfg.RateLimitUserBatches,
		UserPendingBatchItems: cfg.RateLimitUserBatchItems,
		BatchCooldown:         cfg.RateLimitBatchCooldown,
	}}
	deps.Limits = a.Limits
	deps.Systems = &systems.Manager{Store: a.Store}
	issuerKey = cfg.OIDCIssuer
	if cfg.DevMode && cfg.OIDCIssuer == "" {
		if err := a.mountDevIssuer(deps); err != nil {
			return err
		}
		issuerKey = auth.DevIssuerKey
	}
	if cfg.OIDCIssuer != "" {
		a.OIDC = auth.NewOIDC(auth.OIDCConfig{
			Key:          issuerKey,
			Issuer:       cfg.OIDCIssuer,
			ClientID:     cfg.OIDCClientID,
			ClientSecret: cfg.OIDCClientSecret,
			RedirectURL:  cfg.BaseURL + web.OIDCCallbackPath,
			Scopes:       strings.Fields(cfg.OIDCScopes),
			GroupsClaim:  cfg.OIDCGroupsClaim,
			Logger:       logger.With("component", "oidc"),
		})
		deps.OIDC = a.OIDC
		deps.IdentityProviders = func() []auth.ProviderStatus { return []auth.ProviderStatus{a.OIDC.Status()} }
	}

	box, err := secrets.NewBox(keys.Encryption)
	if err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	// Identity providers added in the portal are read from the database at each sign-in.
	deps.IdP = &idp.Service{
		Store:       a.Store,
		Box:         box,
		RedirectURL: cfg.BaseURL + web.OIDCCallbackPath,
		DevMode:     cfg.DevMode,
		Logger:      logger.With("component", "idp"),
	}
	if a.OIDC != nil {
		deps.IdP.Static = &idp.Static{
			OIDC:        a.OIDC,
			Label:       cfg.OIDCProviderName,
			Issuer:      cfg.OIDCIssuer,
			ClientID:    cfg.OIDCClientID,
			Scopes:      strings.Fields(cfg.OIDCScopes),
			GroupsClaim: a.OIDC.GroupsClaim(),
		}
	}
	deps.IdentityProviders = deps.IdP.Statuses
	a.IdP = deps.IdP
	if cfg.DevMode && cfg.DevKubeconfig != "" {
		kubeconfig, err := os.ReadFile(cfg.DevKubeconfig)
		if err != nil {
			return fmt.Errorf("SHEPHERD_DEV_KUBECONFIG: %w", err)
		}
		if err := seed.DevKubeCluster(ctx, a.Store, box, kubeconfig); err != nil {
			return err
		}
		logger.Info("test cluster registered", "cluster", seed.DevKubeClusterName, "kubeconfig", cfg.DevKubeconfig)
	}
	a.Clusters = clusters.New(a.Store, clusters.Options{
		Concurrency:  cfg.ClusterConcurrency,
		SimStepDelay: cfg.SimStepDelay,
		SimStateDir:  cfg.SimStateDir,
		Box:          box,
		CallTimeout:  cfg.K8sTimeout,
		Logger:       logger.With("component", "clusters"),
	})
	a.Executor = &provisioning.Executor{Store: a.Store, Clusters: a.Clusters, Logger: logger.With("component", "provisioning"),
		CallTimeout: cfg.K8sTimeout, ReadyTimeout: cfg.VMReadyTimeout}
	workers := river.NewWorkers()
	a.ConsoleAccess = &console.Access{Store: a.Store, Replica: replicaName(), Logger: logger.With("component", "console")}
	river.AddWorker(workers, &sessioncleanup.Worker{Sessions: a.Sessions, Consoles: a.ConsoleAccess, Logger: logger})
	river.AddWorker(workers, &jobs.EventWorker[vmcreate.Args]{Run: a.Executor.Create, JobTimeout: cfg.JobTimeout})
	river.AddWorker(workers, &jobs.EventWorker[vmpower.Args]{Run: a.Executor.Power, JobTimeout: cfg.JobTimeout})
	river.AddWorker(workers, &jobs.EventWorker[vmdelete.Args]{Run: a.Executor.Delete, JobTimeout: cfg.JobTimeout})
	river.AddWorker(workers, &clusterhealth.Worker{Checker: &clusterhealth.Checker{Store: a.Store, Clusters: a.Clusters,
		Logger: logger.With("component", "clusterhealth")}})
	river.AddWorker(workers, &reconcile.Worker{Reconciler: &reconcile.Reconciler{Store: a.Store, Clusters: a.Clusters,
		Logger: logger.With("component", "reconcile"), Timeout: cfg.K8sTimeout}})
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(15*time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return sessioncleanup.Args{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(cfg.ClusterCheckEvery),
			func() (river.JobArgs, *river.InsertOpts) { return clusterhealth.Args{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileEvery),
			func() (river.JobArgs, *river.InsertOpts) { return reconcile.Args{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})}
	// Approval requests waiting more than a week: a daily digest to platform admins (at
	// most one a day each, so runs at start-up and on several replicas are harmless).
	river.AddWorker(workers, &approvaloverdue.Worker{Notifier: &approvaloverdue.Notifier{Store: a.Store},
		Logger: logger.With("component", "approval-overdue")})
	periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(approvaloverdue.Every),
		func() (river.JobArgs, *river.InsertOpts) { return approvaloverdue.Args{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
	// The SIEM webhook, when configured: River's leader enqueues it; a failed delivery is
	// retried by River with backoff.
	river.AddWorker(workers, &auditwebhook.Worker{Logger: logger.With("component", "audit-webhook"), Shipper: &audit.Shipper{
		Store:        a.Store,
		URL:          cfg.AuditWebhookURL,
		Secret:       []byte(cfg.AuditWebhookSecret),
		Batch:        cfg.AuditWebhookBatch,
		Actions:      splitList(cfg.AuditWebhookActions),
		Environments: splitList(cfg.AuditWebhookEnvironments),
	}})
	if cfg.AuditWebhookURL != "" {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.AuditWebhookEvery),
			func() (river.JobArgs, *river.InsertOpts) { return auditwebhook.Args{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	// Audit retention: daily, and at start-up (a run with nothing due costs one query).
	river.AddWorker(workers, &auditretention.Worker{Logger: logger.With("component", "audit-retention"), Archiver: &audit.Archiver{
		Store: a.Store,
		Retention: audit.Retention{
			TestDays:        cfg.AuditRetainTestDays,
			ProdDays:        cfg.AuditRetainProdDays,
			SensitiveDays:   cfg.AuditRetainSensitiveDays,
			ArchiveKeepDays: cfg.AuditArchiveKeepDays,
		},
	}})
	if cfg.AuditRetention {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return auditretention.Args{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	// The client ID is explicit and unique per process: it is what river_job.attempted_by
	// records and what the heartbeat row is keyed by.
	a.Liveness = liveness.New(a.Pool, liveness.ClientID(), logger.With("component", "liveness"),
		liveness.Options{Beat: cfg.WorkerHeartbeat, DeadAfter: cfg.WorkerDeadAfter})
	// Each cluster is watched by one process of those sharing the database: leases keyed
	// by the same ID, lasting as long as a heartbeat counts as alive.
	a.StatusSync = statussync.New(a.Store, a.Clusters, logger, statussync.Options{
		CallTimeout: cfg.K8sTimeout,
		Leases:      statussync.NewLeases(a.Store.SQL, a.Liveness.ID(), cfg.WorkerDeadAfter, cfg.WorkerDeadAfter),
	})
	a.River, err = river.NewClient(riverpgxv5.New(a.Pool), &river.Config{
		ID:     a.Liveness.ID(),
		Logger: logger.With("component", "river"),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.RiverMaxWorkers},
			vmcreate.Queue:     {MaxWorkers: cfg.ProvisioningWorkers},
			vmpower.Queue:      {MaxWorkers: cfg.PowerWorkers},
		},
		Workers: workers,
		// Tracks the jobs this process works, so ones whose outcome River could not record
		// during a database outage are handed back in seconds (liveness.OwnGrace).
		Middleware:                  []rivertype.Middleware{a.Liveness.Middleware()},
		CompletedJobRetentionPeriod: 24 * time.Hour,
		// New jobs arrive by LISTEN/NOTIFY when the approval commits; a short cooldown
		// lets a burst of approvals start within milliseconds instead of the next poll.
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    cfg.JobPollInterval,
		RetryPolicy:          jobs.RetryPolicy{Base: cfg.JobRetryBase, Max: 10 * time.Minute},
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter(),
		PeriodicJobs:         periodic,
	})
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	a.jobsUI, err = riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(a.River, nil),
		Prefix: web.JobsPrefix, Logger: logger.With("component", "riverui")})
	if err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	deps.JobsUI = a.jobsUI
	// Jobs are inserted inside use-case transactions through River's database/sql
	// driver, on the same *sql.DB as Ent; the workers above run on pgx.
	inserter, err := river.NewClient(riverdatabasesql.New(a.Store.SQL), &river.Config{Logger: logger.With("component", "river-insert")})
	if err != nil {
		return fmt.Errorf("river insert client: %w", err)
	}
	deps.Governance = &governance.Service{Store: a.Store, Jobs: inserter, Logger: logger, Limits: a.Limits}
	if err := a.wireConsole(ctx, deps); err != nil {
		return err
	}
	a.wireLive(deps)
	deps.Catalog = catalog.NewService(a.Store, box)
	deps.Catalog.Clusters = a.Clusters
	deps.Ready = a.ready
	deps.Watchers = a.StatusSync.States
	deps.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		jobs.NewQueueCollector(a.Pool), statussync.NewCollector(a.StatusSync))
	a.metrics = deps.Registry
	a.Echo = web.New(deps)
	return nil
}

// mountDevIssuer runs the development OIDC provider inside this process and points the
// real OIDC client at it: sign-in goes through discovery, PKCE and signed ID tokens.
func (a *App) mountDevIssuer(deps *web.Deps) error {
	cfg := a.Config
	secret := auth.RandomToken(24)
	var users []devoidc.User
	for _, u := range seed.DemoUsers {
		users = append(users, devoidc.User{Sub: u.Sub, Username: u.Username, Name: u.Name, Email: u.Email, Groups: u.Groups, Description: u.Description})
	}
	iss, err := devoidc.New(devoidc.Options{
		Issuer: cfg.BaseURL + DevIssuerPath,
		Clients: []devoidc.Client{{
			ID:                     "shepherd-dev",
			Secret:                 secret,
			RedirectURIs:           []string{cfg.BaseURL + web.OIDCCallbackPath},
			PostLogoutRedirectURIs: []string{cfg.BaseURL + web.SignedOutPath},
		}},
		Users:        users,
		RenderPicker: signin.DevPickerRenderer(true),
	})
	if err != nil {
		return err
	}
	a.DevIssuer = iss
	deps.DevIssuer, deps.DevIssuerPath = iss.Handler(), DevIssuerPath
	cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret = cfg.BaseURL+DevIssuerPath, "shepherd-dev", secret
	if cfg.OIDCProviderName == "Single sign-on" {
		cfg.OIDCProviderName = "the development identity provider"
	}
	a.Logger.Warn("development mode: demo data and the development OIDC issuer are enabled; never use this in production",
		"issuer", cfg.OIDCIssuer)
	return nil
}

func (a *App) ready(ctx context.Context) error {
	if err := a.Pool.Ping(ctx); err != nil {
		switch {
		case errors.Is(err, context.Canceled):
			return err // the caller went away; the database may be fine
		case errors.Is(err, context.DeadlineExceeded):
			a.Logger.Warn("readiness: database did not answer in time", "err", err)
			return errors.New("database did not answer in time")
		}
		a.Logger.Warn("readiness: database unreachable", "err", err)
		return errors.New("database unreachable")
	}
	select {
	case <-a.River.Stopped():
		return errors.New("job worker stopped")
	default:
	}
	return nil
}

// Handler is the HTTP handler (for tests that drive the app in-process).
func (a *App) Handler() http.Handler { return a.Echo }

// Run serves on ln (or the configured address) until ctx ends, then shuts down in order:
// stop accepting requests, let running jobs finish briefly, close the pool.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	defer a.Pool.Close()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.Config.Addr); err != nil {
			return fmt.Errorf("listen on %s (SHEPHERD_ADDR): %w", a.Config.Addr, err)
		}
	}
	var metricsLn net.Listener
	if a.Config.MetricsAddr != "off" {
		var err error
		if metricsLn, err = net.Listen("tcp", a.Config.MetricsAddr); err != nil {
			return fmt.Errorf("listen on %s (SHEPHERD_METRICS_ADDR): %w", a.Config.MetricsAddr, err)
		}
		a.metricsAddr.Store(metricsLn.Addr().String())
	}
	// The heartbeat starts before River fetches a job and stops only after River has
	// stopped, so no job of a live process is ever without a fresh row; it has its own
	// context because ctx ends before River's graceful stop.
	if err := a.Liveness.Register(ctx); err != nil {
		return err
	}
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beats := runner.New(beatCtx, a.Logger)
	beats.Go("worker heartbeat", a.Liveness.Run)
	defer func() {
		stopBeat()
		beats.Wait()
		retireCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := a.Liveness.Retire(retireCtx); err != nil {
			a.Logger.Warn("removing this process's heartbeat", "err", err)
		}
	}()
	if err := a.River.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	if err := a.jobsUI.Start(ctx); err != nil {
		return fmt.Errorf("start river ui: %w", err)
	}
	srv := &http.Server{Handler: a.Echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn)}
	run := runner.New(ctx, a.Logger)
	run.Go("status sync", a.StatusSync.Run)
	// Event streams end when the listener stops with ctx, before the server's shutdown
	// waits for open requests.
	run.Go("live updates", a.liveListener.Run)
	// Consoles end with ReasonServerShutdown when ctx does; their records are written
	// before Run returns.
	a.ConsoleHub.Start(ctx)
	defer a.ConsoleHub.Wait()
	serveErr := make(chan error, 1)
	run.Go("http", func(context.Context) error {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
		return err
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", web.MetricsHandler(a.metrics))
	metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn)}
	if metricsLn != nil {
		run.Go("metrics http", func(context.Context) error {
			if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		a.Logger.Info("metrics are served", "url", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	if a.OIDC != nil {
		// Discovery at start-up, retried in the background: a deployment may start before
		// its IdP is reachable; the log and /health/ready say why sign-in cannot work yet.
		run.Go("oidc discovery", func(ctx context.Context) error {
			a.OIDC.Watch(ctx, 5*time.Second, 5*time.Minute)
			return nil
		})
	}
	if a.IdP != nil {
		// The portal's providers are checked once at start-up (their state shows on the
		// Identity providers page and in /health/ready); sign-ins read them from the
		// database, so later changes need no restart.
		run.Go("identity provider check", func(ctx context.Context) error {
			a.IdP.CheckAll(ctx)
			return nil
		})
	}
	a.Logger.Info("Shepherd is serving", "url", a.Config.BaseURL, "addr", ln.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	a.Logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if e := srv.Shutdown(shutCtx); e != nil {
		a.Logger.Warn("http shutdown", "err", e)
	}
	_ = metricsSrv.Shutdown(shutCtx)
	if e := a.River.Stop(shutCtx); e != nil {
		a.Logger.Warn("river did not stop cleanly", "err", e)
	}
	run.Wait()
	a.Clusters.Close()
	return err
}

// splitList reads a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
