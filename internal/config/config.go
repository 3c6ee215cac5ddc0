// Package config loads Shepherd's settings: defaults, then an optional YAML file, then
// environment variables (SHEPHERD_*, plus DATABASE_URL), validated once at start.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole process configuration. Each field's `env` tag names its variable and
// its `yaml` tag the key in the optional file; `doc` feeds the README's reference table.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" yaml:"database_url" doc:"PostgreSQL URL. Required for serve/migrate; dev starts a private server when empty." secret:"true"`
	Addr        string `env:"SHEPHERD_ADDR" yaml:"addr" doc:"Listen address." default:"127.0.0.1:8080"`
	BaseURL     string `env:"SHEPHERD_BASE_URL" yaml:"base_url" doc:"External URL of the portal (OIDC redirect and post-logout URIs, Origin checks). Defaults to http://ADDR, except that serving on all interfaces (0.0.0.0, ::) requires it."`
	LogLevel    string `env:"SHEPHERD_LOG_LEVEL" yaml:"log_level" doc:"debug, info, warn or error." default:"info"`
	LogFormat   string `env:"SHEPHERD_LOG_FORMAT" yaml:"log_format" doc:"text or json." default:"text"`
	MetricsAddr string `env:"SHEPHERD_METRICS_ADDR" yaml:"metrics_addr" doc:"Listen address of the Prometheus /metrics endpoint, apart from the portal (keep it off the public network). 'off' disables it." default:"127.0.0.1:9464"`
	// MetricsToken additionally serves /metrics on the portal's address to scrapers that send it as a bearer token.
	MetricsToken string `env:"SHEPHERD_METRICS_TOKEN" yaml:"metrics_token" doc:"When set, /metrics is also served on the portal's address to requests with 'Authorization: Bearer TOKEN' (at least 32 characters). Unset: the portal answers 404 there." secret:"true"`
	DevMode      bool   `env:"SHEPHERD_DEV_MODE" yaml:"dev_mode" doc:"Mounts the development OIDC issuer and demo data. Never in production." default:"false"`

	OIDCIssuer       string `env:"SHEPHERD_OIDC_ISSUER" yaml:"oidc_issuer" doc:"OIDC issuer URL, exactly as the provider's discovery document spells it (a trailing slash counts). Empty disables OIDC sign-in."`
	OIDCClientID     string `env:"SHEPHERD_OIDC_CLIENT_ID" yaml:"oidc_client_id" doc:"OIDC client id (the token's aud must contain it)."`
	OIDCClientSecret string `env:"SHEPHERD_OIDC_CLIENT_SECRET" yaml:"oidc_client_secret" doc:"OIDC client secret." secret:"true"`
	OIDCProviderName string `env:"SHEPHERD_OIDC_PROVIDER_NAME" yaml:"oidc_provider_name" doc:"Label on the sign-in button." default:"Single sign-on"`
	OIDCGroupsClaim  string `env:"SHEPHERD_OIDC_GROUPS_CLAIM" yaml:"oidc_groups_claim" doc:"Claim (ID token, else userinfo) that lists the user's groups." default:"groups"`
	OIDCScopes       string `env:"SHEPHERD_OIDC_SCOPES" yaml:"oidc_scopes" doc:"Space-separated scopes requested besides openid." default:"profile email"`

	LocalLogin     bool   `env:"SHEPHERD_LOCAL_LOGIN" yaml:"local_login" doc:"Allow local accounts (the seeded admin)." default:"true"`
	PasswordPolicy string `env:"SHEPHERD_PASSWORD_POLICY" yaml:"password_policy" doc:"nist (length + blocklist) or legacy (also upper/lower/digit)." default:"nist"`

	EncryptionKey string `env:"SHEPHERD_ENCRYPTION_KEY" yaml:"encryption_key" doc:"32 bytes, base64. AES-256-GCM key for secrets at rest. Generated and stored in the DB when empty." secret:"true"`
	SessionSecret string `env:"SHEPHERD_SESSION_SECRET" yaml:"session_secret" doc:"At least 32 bytes, base64. Signs session cookies. Generated and stored in the DB when empty." secret:"true"`

	SessionIdleTimeout time.Duration `env:"SHEPHERD_SESSION_IDLE_TIMEOUT" yaml:"session_idle_timeout" doc:"Sign out after this much inactivity." default:"30m"`
	SessionMaxAge      time.Duration `env:"SHEPHERD_SESSION_MAX_AGE" yaml:"session_max_age" doc:"Absolute session lifetime." default:"24h"`

	DBMaxConns      int `env:"SHEPHERD_DB_MAX_CONNS" yaml:"db_max_conns" doc:"Pool size shared by web requests and workers." default:"30"`
	RiverMaxWorkers int `env:"SHEPHERD_RIVER_MAX_WORKERS" yaml:"river_max_workers" doc:"Concurrent River jobs per instance." default:"10"`

	ProvisioningWorkers int           `env:"SHEPHERD_PROVISIONING_WORKERS" yaml:"provisioning_workers" doc:"Concurrent create/delete jobs per instance (River queue provisioning)." default:"10"`
	PowerWorkers        int           `env:"SHEPHERD_POWER_WORKERS" yaml:"power_workers" doc:"Concurrent start/stop/restart jobs per instance (River queue power)." default:"5"`
	ClusterConcurrency  int           `env:"SHEPHERD_K8S_CLUSTER_CONCURRENCY" yaml:"k8s_cluster_concurrency" doc:"Concurrent operations per cluster per instance." default:"20"`
	K8sTimeout          time.Duration `env:"SHEPHERD_K8S_OPERATION_TIMEOUT" yaml:"k8s_operation_timeout" doc:"Timeout of each call to a cluster." default:"5m"`
	VMReadyTimeout      time.Duration `env:"SHEPHERD_VM_READY_TIMEOUT" yaml:"vm_ready_timeout" doc:"How long a ticket waits for its VM to reach Running/Stopped (checked by short job runs, no worker held) before leaving it to status sync." default:"5m"`
	JobTimeout          time.Duration `env:"SHEPHERD_JOB_TIMEOUT" yaml:"job_timeout" doc:"Bounds one run of a cluster job: its cluster calls, never a wait for a boot (that is a later run)." default:"1m"`
	JobRetryBase        time.Duration `env:"SHEPHERD_JOB_RETRY_BASE" yaml:"job_retry_base" doc:"First retry delay of a failed cluster job; doubles per attempt (with jitter) up to 10m." default:"5s"`
	JobRescueAfter      time.Duration `env:"SHEPHERD_JOB_RESCUE_AFTER" yaml:"job_rescue_after" doc:"River's rescuer retries a job still 'running' this long (its process died without a heartbeat row to tell). Must exceed the job timeout. 0 = job timeout + 1m."`
	WorkerHeartbeat     time.Duration `env:"SHEPHERD_WORKER_HEARTBEAT" yaml:"worker_heartbeat" doc:"How often each process records in PostgreSQL that it is alive, and hands back the running jobs of processes that are not." default:"5s"`
	WorkerDeadAfter     time.Duration `env:"SHEPHERD_WORKER_DEAD_AFTER" yaml:"worker_dead_after" doc:"A process whose heartbeat is this old is dead: its running jobs are handed back to the queue. At least 3 heartbeats." default:"20s"`
	JobPollInterval     time.Duration `env:"SHEPHERD_JOB_POLL_INTERVAL" yaml:"job_poll_interval" doc:"Fallback poll for due jobs (new jobs arrive by LISTEN/NOTIFY)." default:"1s"`
	ClusterCheckEvery   time.Duration `env:"SHEPHERD_CLUSTER_CHECK_INTERVAL" yaml:"cluster_check_interval" doc:"Health and capability check of every cluster." default:"60s"`
	ReconcileEvery      time.Duration `env:"SHEPHERD_RECONCILE_INTERVAL" yaml:"reconcile_interval" doc:"Comparison of each cluster's VMs with Shepherd's (ghosts and orphans)." default:"10m"`
	// Request and batch limits (internal/ratelimit, spec §10.5); 0 turns a limit off.
	RateLimitGlobalPerMinute int           `env:"SHEPHERD_RATE_LIMIT_GLOBAL_PER_MINUTE" yaml:"rate_limit_global_per_minute" doc:"Changes (form posts) per minute of all signed-in users together; reads are not counted. 0: no limit." default:"1000"`
	RateLimitUserPerMinute   int           `env:"SHEPHERD_RATE_LIMIT_USER_PER_MINUTE" yaml:"rate_limit_user_per_minute" doc:"Changes (form posts) per minute of one user. 0: no limit." default:"120"`
	RateLimitPendingBatches  int           `env:"SHEPHERD_RATE_LIMIT_PENDING_BATCHES" yaml:"rate_limit_pending_batches" doc:"Batch requests waiting or running, platform-wide. 0: no limit." default:"100"`
	RateLimitUserBatches     int           `env:"SHEPHERD_RATE_LIMIT_USER_PENDING_BATCHES" yaml:"rate_limit_user_pending_batches" doc:"Batch requests one user may have waiting or running. 0: no limit." default:"3"`
	RateLimitUserBatchItems  int           `env:"SHEPHERD_RATE_LIMIT_USER_PENDING_BATCH_ITEMS" yaml:"rate_limit_user_pending_batch_items" doc:"VMs in one user's waiting or running batch requests. 0: no limit." default:"30"`
	RateLimitBatchCooldown   time.Duration `env:"SHEPHERD_RATE_LIMIT_BATCH_COOLDOWN" yaml:"rate_limit_batch_cooldown" doc:"Least time between two batch requests of one user. 0: none." default:"2m"`
	// Audit retention (internal/audit Archiver): the spec's minimums are the defaults.
	AuditRetention           bool `env:"SHEPHERD_AUDIT_RETENTION" yaml:"audit_retention" doc:"Move audit rows older than their retention period into compressed archives once a day (each move audited). false: keep every row in the audit log." default:"true"`
	AuditRetainTestDays      int  `env:"SHEPHERD_AUDIT_RETAIN_TEST_DAYS" yaml:"audit_retain_test_days" doc:"Days audit rows of the test environment stay in the audit log (at least 90)." default:"90"`
	AuditRetainProdDays      int  `env:"SHEPHERD_AUDIT_RETAIN_PROD_DAYS" yaml:"audit_retain_prod_days" doc:"Days audit rows of prod and of the platform (sign-ins, settings) stay in the audit log (at least 365)." default:"365"`
	AuditRetainSensitiveDays int  `env:"SHEPHERD_AUDIT_RETAIN_SENSITIVE_DAYS" yaml:"audit_retain_sensitive_days" doc:"Days deletions, approval decisions and role changes stay in the audit log (at least 1095)." default:"1095"`
	AuditArchiveKeepDays     int  `env:"SHEPHERD_AUDIT_ARCHIVE_KEEP_DAYS" yaml:"audit_archive_keep_days" doc:"Days an archive is kept after it was made; then it is deleted (audited). 0: archives are kept for good." default:"0"`
	// The SIEM webhook (internal/audit Shipper): off while the URL is empty.
	AuditWebhookURL          string        `env:"SHEPHERD_AUDIT_WEBHOOK_URL" yaml:"audit_webhook_url" doc:"Receiver of the audit log as batches of ECS-like JSON events (https; http only to a loopback address). Empty: off."`
	AuditWebhookSecret       string        `env:"SHEPHERD_AUDIT_WEBHOOK_SECRET" yaml:"audit_webhook_secret" doc:"HMAC-SHA256 key signing each delivery (header X-Shepherd-Signature-256). At least 16 characters; required with the URL." secret:"true"`
	AuditWebhookEvery        time.Duration `env:"SHEPHERD_AUDIT_WEBHOOK_INTERVAL" yaml:"audit_webhook_interval" doc:"How often new audit events are sent." default:"60s"`
	AuditWebhookBatch        int           `env:"SHEPHERD_AUDIT_WEBHOOK_BATCH" yaml:"audit_webhook_batch" doc:"Most events per delivery." default:"100"`
	AuditWebhookActions      string        `env:"SHEPHERD_AUDIT_WEBHOOK_ACTIONS" yaml:"audit_webhook_actions" doc:"Comma-separated action codes or prefixes (vm., approval.*) to send; empty sends all."`
	AuditWebhookEnvironments string        `env:"SHEPHERD_AUDIT_WEBHOOK_ENVIRONMENTS" yaml:"audit_webhook_environments" doc:"Comma-separated environments (test, prod) to send; empty sends all."`
	ConsoleIdleTimeout       time.Duration `env:"SHEPHERD_CONSOLE_IDLE_TIMEOUT" yaml:"console_idle_timeout" doc:"Close a VM console after this long without a byte either way. 0 = never (sessions still end at their 2 h cap)." default:"0s"`
	SimStepDelay             time.Duration `env:"SHEPHERD_SIM_STEP_DELAY" yaml:"sim_step_delay" doc:"Simulated clusters: how long a VM stays in each intermediate phase (Starting, Stopping)." default:"2s"`
	SimStateDir              string        `env:"SHEPHERD_SIM_STATE_DIR" yaml:"sim_state_dir" doc:"Simulated clusters: directory keeping their VMs across restarts. Empty = in memory (dev: DATA_DIR/sim)."`

	DataDir string `env:"SHEPHERD_DATA_DIR" yaml:"data_dir" doc:"dev only: where the private PostgreSQL keeps its data." default:".data"`
	PGPort  int    `env:"SHEPHERD_PG_PORT" yaml:"pg_port" doc:"dev only: port of the private PostgreSQL." default:"5433"`
	// DevKubeconfig is set by `make run-kube` (shepherd-testcluster exec) to the test cluster's admin kubeconfig.
	DevKubeconfig string `env:"SHEPHERD_DEV_KUBECONFIG" yaml:"dev_kubeconfig" doc:"dev only: kubeconfig of a real test cluster to register as the KubeVirt cluster kube-test (make run-kube sets it)."`

	// Decoded forms, filled by Validate.
	EncryptionKeyBytes []byte `env:"-" yaml:"-"`
	// BaseURLDerived: SHEPHERD_BASE_URL was not set, BaseURL was made from SHEPHERD_ADDR.
	BaseURLDerived     bool   `env:"-" yaml:"-"`
	SessionSecretBytes []byte `env:"-" yaml:"-"`
}

// FieldError names the setting that is wrong, as the operator would write it.
type FieldError struct {
	Key     string
	Message string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Message }

// Load reads defaults, then the YAML file named by SHEPHERD_CONFIG (if any), then the environment.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	if err := applyDefaults(c); err != nil {
		return nil, err
	}
	if path := getenv("SHEPHERD_CONFIG"); path != "" {
		if err := loadFile(c, path); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(c, getenv); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func loadFile(c *Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &FieldError{Key: "SHEPHERD_CONFIG", Message: fmt.Sprintf("cannot read config file: %v", err)}
	}
	defer f.Close()
	raw := map[string]any{}
	dec := yaml.NewDecoder(f)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return &FieldError{Key: "SHEPHERD_CONFIG", Message: fmt.Sprintf("%s is not a flat YAML map of settings: %v", path, err)}
	}
	fields := fieldsByTag(c, "yaml")
	for k, v := range raw {
		fv, ok := fields[k]
		if !ok {
			return &FieldError{Key: k, Message: fmt.Sprintf("unknown setting in %s", path)}
		}
		if err := setValue(fv.value, fmt.Sprint(v)); err != nil {
			return &FieldError{Key: k, Message: err.Error()}
		}
	}
	return nil
}

func applyEnv(c *Config, getenv func(string) string) error {
	for key, fv := range fieldsByTag(c, "env") {
		v := getenv(key)
		if v == "" {
			continue
		}
		if err := setValue(fv.value, v); err != nil {
			return &FieldError{Key: key, Message: err.Error()}
		}
	}
	return nil
}

func applyDefaults(c *Config) error {
	for key, fv := range fieldsByTag(c, "env") {
		if d, ok := fv.field.Tag.Lookup("default"); ok {
			if err := setValue(fv.value, d); err != nil {
				return fmt.Errorf("bad default for %s: %w", key, err)
			}
		}
	}
	return nil
}

type fieldRef struct {
	field reflect.StructField
	value reflect.Value
}

func fieldsByTag(c *Config, tag string) map[string]fieldRef {
	out := map[string]fieldRef{}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get(tag)
		if name == "" || name == "-" {
			continue
		}
		out[name] = fieldRef{field: t.Field(i), value: v.Field(i)}
	}
	return out
}

func setValue(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case string:
		v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (use true or false)", s)
		}
		v.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(int64(n))
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30m, 24h)", s)
		}
		v.SetInt(int64(d))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// Validate checks every setting and decodes keys; the first problem is returned by name.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return &FieldError{Key: "SHEPHERD_ADDR", Message: fmt.Sprintf("%q is not host:port", c.Addr)}
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
		c.BaseURLDerived = true
	}
	if c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return &FieldError{Key: "SHEPHERD_METRICS_ADDR", Message: fmt.Sprintf("%q is not host:port (or off)", c.MetricsAddr)}
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		return &FieldError{Key: "SHEPHERD_METRICS_TOKEN", Message: "must be at least 32 characters"}
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &FieldError{Key: "SHEPHERD_BASE_URL", Message: fmt.Sprintf("%q must be an absolute http(s) URL", c.BaseURL)}
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return &FieldError{Key: "SHEPHERD_LOG_LEVEL", Message: err.Error()}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return &FieldError{Key: "SHEPHERD_LOG_FORMAT", Message: fmt.Sprintf("%q must be text or json", c.LogFormat)}
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return &FieldError{Key: "DATABASE_URL", Message: "must be a postgres:// URL"}
		}
	}
	if c.OIDCIssuer != "" {
		if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &FieldError{Key: "SHEPHERD_OIDC_ISSUER", Message: "must be an absolute URL"}
		}
		if c.OIDCClientID == "" {
			return &FieldError{Key: "SHEPHERD_OIDC_CLIENT_ID", Message: "is required when SHEPHERD_OIDC_ISSUER is set"}
		}
	}
	if c.PasswordPolicy != "nist" && c.PasswordPolicy != "legacy" {
		return &FieldError{Key: "SHEPHERD_PASSWORD_POLICY", Message: fmt.Sprintf("%q must be nist or legacy", c.PasswordPolicy)}
	}
	if c.EncryptionKey != "" {
		b, err := base64.StdEncoding.DecodeString(c.EncryptionKey)
		if err != nil || len(b) != 32 {
			return &FieldError{Key: "SHEPHERD_ENCRYPTION_KEY", Message: "must be exactly 32 bytes, base64-encoded (openssl rand -base64 32)"}
		}
		c.EncryptionKeyBytes = b
	}
	if c.SessionSecret != "" {
		b, err := base64.StdEncoding.DecodeString(c.SessionSecret)
		if err != nil || len(b) < 32 {
			return &FieldError{Key: "SHEPHERD_SESSION_SECRET", Message: "must be at least 32 bytes, base64-encoded (openssl rand -base64 32)"}
		}
		c.SessionSecretBytes = b
	}
	if c.SessionIdleTimeout < time.Minute {
		return &FieldError{Key: "SHEPHERD_SESSION_IDLE_TIMEOUT", Message: "must be at least 1m"}
	}
	if c.SessionMaxAge < c.SessionIdleTimeout {
		return &FieldError{Key: "SHEPHERD_SESSION_MAX_AGE", Message: "must not be shorter than SHEPHERD_SESSION_IDLE_TIMEOUT"}
	}
	if c.DBMaxConns < 4 {
		return &FieldError{Key: "SHEPHERD_DB_MAX_CONNS", Message: "must be at least 4 (web requests and workers share the pool)"}
	}
	for key, n := range map[string]int{"SHEPHERD_PROVISIONING_WORKERS": c.ProvisioningWorkers, "SHEPHERD_POWER_WORKERS": c.PowerWorkers,
		"SHEPHERD_K8S_CLUSTER_CONCURRENCY": c.ClusterConcurrency} {
		if n < 1 {
			return &FieldError{Key: key, Message: "must be at least 1"}
		}
	}
	for key, d := range map[string]time.Duration{"SHEPHERD_K8S_OPERATION_TIMEOUT": c.K8sTimeout, "SHEPHERD_VM_READY_TIMEOUT": c.VMReadyTimeout,
		"SHEPHERD_JOB_RETRY_BASE": c.JobRetryBase, "SHEPHERD_JOB_POLL_INTERVAL": c.JobPollInterval,
		"SHEPHERD_CLUSTER_CHECK_INTERVAL": c.ClusterCheckEvery, "SHEPHERD_RECONCILE_INTERVAL": c.ReconcileEvery,
		"SHEPHERD_WORKER_HEARTBEAT": c.WorkerHeartbeat, "SHEPHERD_JOB_TIMEOUT": c.JobTimeout} {
		if d <= 0 {
			return &FieldError{Key: key, Message: "must be a positive duration such as 30s or 5m"}
		}
	}
	if c.ConsoleIdleTimeout < 0 {
		return &FieldError{Key: "SHEPHERD_CONSOLE_IDLE_TIMEOUT", Message: "must not be negative"}
	}
	if c.SimStepDelay < 0 || c.JobRescueAfter < 0 {
		return &FieldError{Key: "SHEPHERD_SIM_STEP_DELAY", Message: "durations must not be negative"}
	}
	if c.JobRescueAfter != 0 && c.JobRescueAfter <= c.JobTimeout {
		return &FieldError{Key: "SHEPHERD_JOB_RESCUE_AFTER", Message: fmt.Sprintf("must exceed the job timeout (SHEPHERD_JOB_TIMEOUT = %s)", c.JobTimeout)}
	}
	if c.WorkerDeadAfter < 3*c.WorkerHeartbeat {
		return &FieldError{Key: "SHEPHERD_WORKER_DEAD_AFTER", Message: fmt.Sprintf("must be at least 3 heartbeats (3 × SHEPHERD_WORKER_HEARTBEAT = %s), so a busy process is not taken for dead", 3*c.WorkerHeartbeat)}
	}
	if c.RiverMaxWorkers < 1 || c.RiverMaxWorkers >= c.DBMaxConns {
		return &FieldError{Key: "SHEPHERD_RIVER_MAX_WORKERS", Message: "must be at least 1 and below SHEPHERD_DB_MAX_CONNS"}
	}
	for key, n := range map[string]int{"SHEPHERD_RATE_LIMIT_GLOBAL_PER_MINUTE": c.RateLimitGlobalPerMinute,
		"SHEPHERD_RATE_LIMIT_USER_PER_MINUTE": c.RateLimitUserPerMinute, "SHEPHERD_RATE_LIMIT_PENDING_BATCHES": c.RateLimitPendingBatches,
		"SHEPHERD_RATE_LIMIT_USER_PENDING_BATCHES": c.RateLimitUserBatches, "SHEPHERD_RATE_LIMIT_USER_PENDING_BATCH_ITEMS": c.RateLimitUserBatchItems} {
		if n < 0 || n > 1_000_000 {
			return &FieldError{Key: key, Message: "must be 0 (no limit) or a count up to 1000000"}
		}
	}
	if c.RateLimitBatchCooldown < 0 || c.RateLimitBatchCooldown > 24*time.Hour {
		return &FieldError{Key: "SHEPHERD_RATE_LIMIT_BATCH_COOLDOWN", Message: "must be 0 (none) or a duration up to 24h"}
	}
	for key, v := range map[string][2]int{"SHEPHERD_AUDIT_RETAIN_TEST_DAYS": {c.AuditRetainTestDays, 90},
		"SHEPHERD_AUDIT_RETAIN_PROD_DAYS": {c.AuditRetainProdDays, 365}, "SHEPHERD_AUDIT_RETAIN_SENSITIVE_DAYS": {c.AuditRetainSensitiveDays, 1095}} {
		if v[0] < v[1] || v[0] > 36500 {
			return &FieldError{Key: key, Message: fmt.Sprintf("must be at least %d days (the retention the spec requires) and at most 36500", v[1])}
		}
	}
	if c.AuditArchiveKeepDays < 0 || c.AuditArchiveKeepDays > 36500 {
		return &FieldError{Key: "SHEPHERD_AUDIT_ARCHIVE_KEEP_DAYS", Message: "must be 0 (keep for good) or up to 36500 days"}
	}
	if c.AuditWebhookURL != "" {
		u, err := url.Parse(c.AuditWebhookURL)
		loopback := err == nil && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback())
		if err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && loopback)) {
			return &FieldError{Key: "SHEPHERD_AUDIT_WEBHOOK_URL", Message: "must be an https:// URL (http:// only to a loopback address)"}
		}
		if len(c.AuditWebhookSecret) < 16 {
			return &FieldError{Key: "SHEPHERD_AUDIT_WEBHOOK_SECRET", Message: "must be at least 16 characters when SHEPHERD_AUDIT_WEBHOOK_URL is set"}
		}
		if c.AuditWebhookEvery <= 0 || c.AuditWebhookBatch < 1 || c.AuditWebhookBatch > 1000 {
			return &FieldError{Key: "SHEPHERD_AUDIT_WEBHOOK_BATCH", Message: "the batch must be 1–1000 events and the interval positive"}
		}
	}
	if c.PGPort < 1 || c.PGPort > 65535 {
		return &FieldError{Key: "SHEPHERD_PG_PORT", Message: "must be a TCP port"}
	}
	return nil
}

// SecureCookies is true when the portal is served over TLS (directly or behind a proxy).
func (c *Config) SecureCookies() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// ParseLevel maps a level name to slog's level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q must be debug, info, warn or error", s)
	}
	return l, nil
}

// Reference lists every setting for the README table.
type Setting struct{ Env, YAML, Default, Doc string }

func Reference() []Setting {
	var out []Setting
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("env") == "-" {
			continue
		}
		out = append(out, Setting{Env: f.Tag.Get("env"), YAML: f.Tag.Get("yaml"), Default: f.Tag.Get("default"), Doc: f.Tag.Get("doc")})
	}
	return out
}

// RescueAfter is when River retries a job whose process died mid-run.
func (c *Config) RescueAfter() time.Duration {
	if c.JobRescueAfter > 0 {
		return c.JobRescueAfter
	}
	return c.JobTimeout + time.Minute
}

// CheckServingURL refuses to serve with a base URL derived from a listen address on all
// interfaces (0.0.0.0, ::, or none): http://0.0.0.0:8080 would become the OIDC redirect
// URI and the Origin every form is checked against, which no browser ever sends.
func (c *Config) CheckServingURL() error {
	if !c.BaseURLDerived {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil // Validate reported it
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return &FieldError{Key: "SHEPHERD_BASE_URL", Message: fmt.Sprintf("is required when SHEPHERD_ADDR (%s) listens on all interfaces: "+
			"set it to the URL people open, e.g. https://shepherd.example.com (it is the OIDC redirect URI and the origin forms are checked against)", c.Addr)}
	}
	return nil
}
