//! Command line and configuration: every flag falls back to an `OM_*` environment variable.
//! A bad value stops start-up with a message naming the variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderName;
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::domain::ids::EventId;
use crate::domain::lifecycle::CancelCallback;
use crate::inbound::http::auth::{BasicCredential, CognitoConfig, TokenSettings, TokenUse};
use crate::inbound::http::hardening::CorsOrigins;

#[derive(Debug, Parser)]
#[command(
    name = "order-manager",
    version,
    about = "The Order Manager of a Serverlesspresso-style coffee shop",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, `serve` with these options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<ServeArgs>),
    /// Print an HS256 token for local use, signed with the service's JWT secret.
    Token(TokenArgs),
    /// Create or update the order store's schema (OM_STORE): the DynamoDB table and its
    /// indexes and TTL, or the SQLite migrations. Idempotent.
    Migrate(MigrateArgs),
    /// Print the OpenAPI document (JSON) of the routes `serve` would serve with these options.
    Openapi(OpenapiArgs),
    /// Ask the running service whether it is ready (`GET /readyz` on OM_LISTEN): exit status
    /// 0 if so. For container health checks, in images without curl.
    Healthcheck(HealthcheckArgs),
}

/// A value parser whose error names the environment variable as well as the flag.
fn named<T>(var: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    move |s: &str| T::from_str(s).map_err(|e| format!("{var}: {e}"))
}

/// Where orders are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `sqlite:<path>`
    Sqlite(PathBuf),
    /// `dynamodb:<table>`: an Amazon DynamoDB table, through the standard AWS configuration.
    Dynamodb { table: String },
}

/// A DynamoDB table name: 3 to 255 characters of `[A-Za-z0-9_.-]`.
fn dynamodb_table(name: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "a DynamoDB table name is 3 to 255 characters of [A-Za-z0-9_.-], got `{name}`"
        ))
    }
}

impl FromStr for StoreConfig {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
            Some(("dynamodb", table)) => Ok(Self::Dynamodb {
                table: dynamodb_table(table)?,
            }),
            _ => Err(format!(
                "expected `sqlite:<path>` or `dynamodb:<table>`, got `{s}`"
            )),
        }
    }
}

/// The embedded processor's store: SQLite only.
fn processor_store(s: &str) -> Result<StoreConfig, String> {
    match s.parse::<StoreConfig>() {
        Ok(c @ StoreConfig::Sqlite(_)) => Ok(c),
        _ => Err(format!(
            "OM_PROCESSOR_STORE: the embedded processor keeps its executions in SQLite: expected `sqlite:<path>`, got `{s}`"
        )),
    }
}

/// `OM_CREATE_TABLE` (`--create-table`): a boolean.
fn create_table(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!(
            "OM_CREATE_TABLE: expected true or false, got `{s}`"
        )),
    }
}

/// `OM_DYNAMODB_SHARDS`: how many write shards each hot index key is spread over.
fn dynamodb_shards(s: &str) -> Result<u32, String> {
    let max = crate::outbound::dynamodb::MAX_SHARDS;
    s.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("OM_DYNAMODB_SHARDS: expected 1 to {max}, got `{s}`"))
}

/// Ingest keys and Basic passwords are at least this long.
const MIN_INGEST_SECRET: usize = 16;

/// `OM_COGNITO_ISSUER`: `https://<host>/<pool id>`, no query, no trailing slash needed.
fn cognito_issuer(s: &str) -> Result<String, String> {
    let issuer = s.trim().trim_end_matches('/');
    let ok = issuer.strip_prefix("https://").is_some_and(|rest| {
        rest.split_once('/').is_some_and(|(host, pool)| {
            !host.is_empty()
                && !pool.is_empty()
                && !pool.contains('/')
                && issuer
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#'))
        })
    });
    if ok {
        Ok(issuer.to_string())
    } else {
        Err(format!(
            "OM_COGNITO_ISSUER: expected `https://cognito-idp.<region>.amazonaws.com/<pool id>`, got `{s}`"
        ))
    }
}

/// An app client id of `OM_COGNITO_CLIENT_IDS`: 1 to 128 of `[A-Za-z0-9_+-]`.
fn cognito_client_id(s: &str) -> Result<String, String> {
    let id = s.trim();
    if (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
    {
        Ok(id.to_string())
    } else {
        Err(format!(
            "OM_COGNITO_CLIENT_IDS: expected app client ids of [A-Za-z0-9_+-], got `{s}`"
        ))
    }
}

/// `OM_JWKS_URL`: HTTPS, or plain HTTP to this machine only (a local test double): keys
/// fetched in clear over a network could be swapped on the way.
fn jwks_url(s: &str) -> Result<String, String> {
    let url = s.trim();
    let host = |rest: &str| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(authority, |(h, _)| h)
            .to_string()
    };
    let ok = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => !host(rest).is_empty(),
        (None, Some(rest)) => matches!(host(rest).as_str(), "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    };
    if ok && !url.chars().any(char::is_whitespace) {
        Ok(url.to_string())
    } else {
        Err(format!(
            "OM_JWKS_URL: expected an https:// URL (http:// only to 127.0.0.1 or localhost), got `{s}`"
        ))
    }
}

/// Which workflow the service calls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkflowKind {
    /// The embedded order processor: the whole flow in this process, no AWS.
    Embedded,
    /// AWS Step Functions (`SendTaskSuccess` / `SendTaskFailure`), configured by the standard
    /// AWS variables.
    Stepfunctions,
}

/// Where the service publishes its `OrderManager.*` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsKind {
    /// Amazon EventBridge (`PutEvents`), configured by the standard AWS variables.
    Eventbridge,
    /// Nowhere: events are only logged (at debug level).
    None,
}

/// The longest event bus name or ARN `PutEvents` takes.
const MAX_BUS: usize = 1600;
/// The longest event source `PutEvents` takes.
const MAX_SOURCE: usize = 256;

/// An EventBridge bus: a name (`[A-Za-z0-9/._-]+`) or an ARN.
fn event_bus(s: &str) -> Result<String, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    };
    let ok = s.len() <= MAX_BUS
        && match s.strip_prefix("arn:") {
            Some(rest) => rest.contains(":event-bus/"),
            None => name_ok(s),
        };
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "OM_EVENT_BUS: expected an event bus name ([A-Za-z0-9/._-], at most {MAX_BUS}) or ARN, got `{s}`"
        ))
    }
}

/// An EventBridge event source: not empty, no white space.
fn event_source(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_SOURCE || s.chars().any(char::is_whitespace) {
        return Err(format!(
            "OM_EVENT_SOURCE: expected 1 to {MAX_SOURCE} characters without spaces, got `{s}`"
        ));
    }
    Ok(s.to_string())
}

/// When SQLite syncs its WAL (`OM_SQLITE_SYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSync {
    /// Each commit, before its writes are answered.
    Full,
    /// At checkpoints only.
    Normal,
}

/// Whether a feature is on (`on`) or off (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl From<SqliteSync> for crate::outbound::sqlite::Durability {
    fn from(s: SqliteSync) -> Self {
        match s {
            SqliteSync::Full => Self::Full,
            SqliteSync::Normal => Self::Normal,
        }
    }
}

/// What `POST /v1/orders` starts the OrderProcessor with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartInputMode {
    /// The `Validator.NewOrder` event (`$.detail.orderId`, `$.detail.userId`,
    /// `$.detail.bucket.eventId`).
    Validator,
    /// `{"orderId", "userId", "eventId"}`.
    Flat,
}

/// How cancellations release the workflow's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CancelMode {
    /// `SendTaskSuccess` with `{"outcome": "cancelled", "cancelled": true}` (what the
    /// Serverlesspresso OrderProcessor expects).
    Success,
    /// `SendTaskFailure` with error `OrderCancelled`, for workflows that catch it.
    Failure,
}

impl From<CancelMode> for CancelCallback {
    fn from(m: CancelMode) -> Self {
        match m {
            CancelMode::Failure => CancelCallback::Failure,
            CancelMode::Success => CancelCallback::Success,
        }
    }
}

/// The local HS256 signing secret: `OM_JWT_SECRET`, or a file generated on first use.
#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 secret for bearer tokens (at least 32 bytes). Prefer the environment variable.
    #[arg(long, env = "OM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Where the secret is kept when OM_JWT_SECRET is not set (created on first use).
    #[arg(long, env = "OM_JWT_SECRET_FILE", default_value = "data/jwt-secret")]
    pub jwt_secret_file: PathBuf,
}

const MIN_SECRET: usize = 32;

impl JwtArgs {
    /// The secret; generates and stores one (mode 0600) when neither source has it.
    pub fn resolve(&self) -> Result<SecretString, String> {
        if let Some(s) = &self.jwt_secret {
            if s.len() < MIN_SECRET {
                return Err(format!("OM_JWT_SECRET must be at least {MIN_SECRET} bytes"));
            }
            return Ok(SecretString::from(s.clone()));
        }
        read_or_create_secret(&self.jwt_secret_file)
    }
}

fn read_or_create_secret(path: &Path) -> Result<SecretString, String> {
    let name = path.display();
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= MIN_SECRET => Ok(SecretString::from(s.trim().to_string())),
        Ok(_) => Err(format!(
            "OM_JWT_SECRET_FILE: {name} holds fewer than {MIN_SECRET} bytes"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let bytes: [u8; 32] = rand::rng().random();
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("OM_JWT_SECRET_FILE: cannot create {}: {e}", dir.display())
                })?;
            }
            write_private(path, &secret)
                .map_err(|e| format!("OM_JWT_SECRET_FILE: cannot write {name}: {e}"))?;
            tracing::info!(path = %name, "generated a local JWT secret");
            Ok(SecretString::from(secret))
        }
        Err(e) => Err(format!("OM_JWT_SECRET_FILE: cannot read {name}: {e}")),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OM_LISTEN", default_value = "127.0.0.1:8080", value_parser = named::<SocketAddr>("OM_LISTEN"))]
    pub listen: SocketAddr,
    /// Order store: `sqlite:<path>` or `dynamodb:<table>`.
    #[arg(long, env = "OM_STORE", default_value = "sqlite:data/orders.db", value_parser = named::<StoreConfig>("OM_STORE"))]
    pub store: StoreConfig,
    /// DynamoDB: write shards per hot index key (1-64). Fixed when the table is created:
    /// a different value on an existing table stops start-up.
    #[arg(long, env = "OM_DYNAMODB_SHARDS", default_value = "8", value_parser = dynamodb_shards)]
    pub dynamodb_shards: u32,
    /// SQLite (the order store and the embedded processor's): `full` (an acknowledged write
    /// is on stable storage: it survives a power cut) or `normal` (it survives a crash of
    /// the process; a power cut may lose the last second or so of them).
    #[arg(long, env = "OM_SQLITE_SYNC", value_enum, default_value = "full")]
    pub sqlite_sync: SqliteSync,
    /// SQLite: append each commit to the WAL in one write, through the engine's VFS (`on`),
    /// or write it as SQLite's own VFS does (`off`). On an SQLite version the VFS was not
    /// written for, it is off whatever this says (and a warning is logged).
    #[arg(long, env = "OM_SQLITE_WAL_APPENDS", value_enum, default_value = "on")]
    pub sqlite_wal_appends: Switch,
    /// DynamoDB: create or update the table at start-up, as `order-manager migrate` does
    /// (for local use; in production, run `migrate` once per deployment).
    #[arg(long, env = "OM_CREATE_TABLE", value_parser = create_table, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub create_table: bool,
    /// Workflow to call back.
    #[arg(long, env = "OM_WORKFLOW", value_enum, default_value = "embedded")]
    pub workflow: WorkflowKind,
    /// Embedded processor: where it keeps its executions (`sqlite:<path>`).
    #[arg(long, env = "OM_PROCESSOR_STORE", default_value = "sqlite:data/processor.db", value_parser = processor_store)]
    pub processor_store: StoreConfig,
    /// Embedded processor: how long an order waits for the customer's drink.
    #[arg(long, env = "OM_CUSTOMER_TIMEOUT", default_value = "300s", value_parser = named::<Span>("OM_CUSTOMER_TIMEOUT"))]
    pub customer_timeout: Span,
    /// Embedded processor: how long a queued order waits for the barista.
    #[arg(long, env = "OM_BARISTA_TIMEOUT", default_value = "900s", value_parser = named::<Span>("OM_BARISTA_TIMEOUT"))]
    pub barista_timeout: Span,
    /// Step Functions: the OrderProcessor state machine `POST /v1/orders` starts (executions
    /// are named by order id). Without it, `POST /v1/orders` answers 404.
    #[arg(long, env = "OM_ORDER_PROCESSOR_ARN")]
    pub order_processor_arn: Option<String>,
    /// Step Functions: what the OrderProcessor is started with: `validator` (the
    /// `Validator.NewOrder` event, as the Serverlesspresso sample's rule starts it) or `flat`
    /// (`{"orderId", "userId", "eventId"}`).
    #[arg(
        long,
        env = "OM_ORDER_PROCESSOR_INPUT",
        value_enum,
        default_value = "validator"
    )]
    pub order_processor_input: StartInputMode,
    /// API key the EventBridge connection sends on `POST /v1/events`. Without any ingest
    /// credential, ingest is refused. Prefer the environment variable.
    #[arg(long, env = "OM_INGEST_API_KEY", hide_env_values = true)]
    pub ingest_api_key: Option<String>,
    /// More ingest API keys, comma-separated, all valid at once (rotation: old and new).
    #[arg(long, env = "OM_INGEST_API_KEYS", hide_env_values = true)]
    pub ingest_api_keys: Option<String>,
    /// HTTP Basic credentials accepted on `POST /v1/events`: `user:password[,user2:password2]`.
    #[arg(long, env = "OM_INGEST_BASIC", hide_env_values = true)]
    pub ingest_basic: Option<String>,
    /// Header that carries the ingest API key.
    #[arg(long, env = "OM_INGEST_API_KEY_HEADER", default_value = "x-api-key", value_parser = named::<HeaderName>("OM_INGEST_API_KEY_HEADER"))]
    pub ingest_api_key_header: HeaderName,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Amazon Cognito user pool whose tokens are accepted
    /// (`https://cognito-idp.<region>.amazonaws.com/<pool id>`). When set, only its RS256
    /// tokens are accepted, never local HS256 ones.
    #[arg(long, env = "OM_COGNITO_ISSUER", value_parser = cognito_issuer)]
    pub cognito_issuer: Option<String>,
    /// App client ids whose tokens are accepted (comma-separated; with OM_COGNITO_ISSUER).
    #[arg(long, env = "OM_COGNITO_CLIENT_IDS", value_delimiter = ',', value_parser = cognito_client_id)]
    pub cognito_client_ids: Vec<String>,
    /// Which Cognito tokens are accepted: `access`, `id`, or `access,id`.
    #[arg(long, env = "OM_COGNITO_TOKEN_USE", value_delimiter = ',', default_value = "access", value_parser = named::<TokenUse>("OM_COGNITO_TOKEN_USE"))]
    pub cognito_token_use: Vec<TokenUse>,
    /// Where the user pool's keys are published (default `<issuer>/.well-known/jwks.json`).
    #[arg(long, env = "OM_JWKS_URL", value_parser = jwks_url)]
    pub jwks_url: Option<String>,
    /// Origins the browser apps may call from: comma-separated exact origins
    /// (`https://app.example.com`), or `*`. Default: none.
    #[arg(long, env = "OM_CORS_ORIGINS", value_parser = named::<CorsOrigins>("OM_CORS_ORIGINS"))]
    pub cors_origins: Option<CorsOrigins>,
    /// `cognito:groups` that make a user a barista (comma-separated).
    #[arg(
        long,
        env = "OM_BARISTA_GROUPS",
        default_value = "admin",
        value_delimiter = ','
    )]
    pub barista_groups: Vec<String>,
    /// Coffee event of events and requests that name none.
    #[arg(long, env = "OM_DEFAULT_EVENT_ID", default_value = "default", value_parser = named::<EventId>("OM_DEFAULT_EVENT_ID"))]
    pub default_event_id: EventId,
    /// Where the `OrderManager.*` events go: `eventbridge` or `none` (default: `none` with the
    /// embedded processor, `eventbridge` with Step Functions).
    #[arg(long, env = "OM_EVENTS", value_enum)]
    pub events: Option<EventsKind>,
    /// EventBridge bus the events are put on (a name or an ARN).
    #[arg(long, env = "OM_EVENT_BUS", default_value = "Serverlesspresso", value_parser = event_bus)]
    pub event_bus: String,
    /// `source` of the events the service puts on the bus.
    #[arg(
        long,
        env = "OM_EVENT_SOURCE",
        default_value = "awsserverlessda.serverlesspresso",
        value_parser = event_source
    )]
    pub event_source: String,
    /// How a cancellation releases the workflow.
    #[arg(
        long,
        env = "OM_CANCEL_CALLBACK",
        value_enum,
        default_value = "success"
    )]
    pub cancel_callback: CancelMode,
    /// Routes for the open-source Serverlesspresso apps: `serverlesspresso` (the original Lambda
    /// API's `/orders`, `/myOrders`...) or `none`.
    #[arg(long, env = "OM_COMPAT", default_value = "serverlesspresso", value_parser = compat_mode)]
    pub compat: CompatMode,
    /// The longest a request may take before it answers 503 (EventBridge gives the ingest
    /// endpoint 5 s).
    #[arg(long, env = "OM_REQUEST_TIMEOUT", default_value = "10s", value_parser = named::<Span>("OM_REQUEST_TIMEOUT"))]
    pub request_timeout: Span,
    /// On SIGTERM or SIGINT: how long in-flight requests and owed callbacks and notices may
    /// take before the process exits anyway.
    #[arg(long, env = "OM_SHUTDOWN_GRACE", default_value = "20s", value_parser = named::<Span>("OM_SHUTDOWN_GRACE"))]
    pub shutdown_grace: Span,
    /// Log format.
    #[arg(long, env = "OM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl ServeArgs {
    /// How the embedded SQLite databases are written (`OM_SQLITE_SYNC`,
    /// `OM_SQLITE_WAL_APPENDS`).
    pub fn sqlite(&self) -> crate::outbound::database::SqliteOptions {
        crate::outbound::database::SqliteOptions {
            durability: self.sqlite_sync.into(),
            wal_appends: self.sqlite_wal_appends == Switch::On,
        }
    }

    /// The events setting, defaulted by the workflow: no AWS with the embedded processor.
    pub fn events(&self) -> EventsKind {
        self.events.unwrap_or(match self.workflow {
            WorkflowKind::Embedded => EventsKind::None,
            WorkflowKind::Stepfunctions => EventsKind::Eventbridge,
        })
    }

    /// Every ingest API key (`OM_INGEST_API_KEY` and `OM_INGEST_API_KEYS`). Errors never
    /// show a key.
    pub fn ingest_keys(&self) -> Result<Vec<SecretString>, String> {
        let single = self
            .ingest_api_key
            .as_deref()
            .map(|k| ("OM_INGEST_API_KEY", k));
        let listed = self
            .ingest_api_keys
            .as_deref()
            .into_iter()
            .flat_map(|ks| ks.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| ("OM_INGEST_API_KEYS", k));
        single
            .into_iter()
            .chain(listed)
            .map(|(var, k)| {
                if k.len() < MIN_INGEST_SECRET {
                    Err(format!(
                        "{var}: every key must be at least {MIN_INGEST_SECRET} characters"
                    ))
                } else {
                    Ok(SecretString::from(k.to_string()))
                }
            })
            .collect()
    }

    /// `OM_INGEST_BASIC`: `user:password[,user2:password2]`. Errors never show a password.
    pub fn ingest_basic(&self) -> Result<Vec<BasicCredential>, String> {
        let Some(all) = self.ingest_basic.as_deref() else {
            return Ok(Vec::new());
        };
        all.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
            .map(|(i, entry)| match entry.split_once(':') {
                Some((user, password))
                    if !user.is_empty() && password.len() >= MIN_INGEST_SECRET =>
                {
                    Ok(BasicCredential {
                        user: user.to_string(),
                        password: SecretString::from(password.to_string()),
                    })
                }
                _ => Err(format!(
                    "OM_INGEST_BASIC: entry {} must be `user:password`, with a password of at least {MIN_INGEST_SECRET} characters",
                    i + 1
                )),
            })
            .collect()
    }

    /// Cognito mode when `OM_COGNITO_ISSUER` is set, else local mode (the HS256 secret is
    /// only read, or generated, in local mode).
    pub fn tokens(&self) -> Result<TokenSettings, String> {
        let Some(issuer) = &self.cognito_issuer else {
            if !self.cognito_client_ids.is_empty() || self.jwks_url.is_some() {
                return Err(
                    "OM_COGNITO_CLIENT_IDS and OM_JWKS_URL need OM_COGNITO_ISSUER".to_string(),
                );
            }
            return Ok(TokenSettings::Local {
                secret: self.jwt.resolve()?,
            });
        };
        let client_ids: Vec<String> = self
            .cognito_client_ids
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        if client_ids.is_empty() {
            return Err(
                "OM_COGNITO_CLIENT_IDS: name at least one app client with OM_COGNITO_ISSUER"
                    .to_string(),
            );
        }
        let mut config = CognitoConfig::new(issuer, client_ids);
        if let Some(url) = &self.jwks_url {
            config.jwks_url.clone_from(url);
        }
        config.token_uses = self.cognito_token_use.clone();
        config.token_uses.dedup();
        Ok(TokenSettings::Cognito(config))
    }

    pub fn barista_groups(&self) -> Result<Vec<String>, String> {
        let groups: Vec<String> = self
            .barista_groups
            .iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        if groups.is_empty() {
            return Err("OM_BARISTA_GROUPS must name at least one group".into());
        }
        Ok(groups)
    }
}

/// A duration like `500ms`, `30s`, `15m`, `12h`.
#[derive(Debug, Clone, Copy)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = n
            .parse()
            .map_err(|_| format!("expected e.g. 30m or 12h, got `{s}`"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(format!("unknown unit in `{s}` (ms, s, m, h, d)")),
        };
        if d.is_zero() {
            return Err(format!("`{s}` is no time at all"));
        }
        Ok(Span(d))
    }
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Order store: `sqlite:<path>` or `dynamodb:<table>`.
    #[arg(long, env = "OM_STORE", default_value = "sqlite:data/orders.db", value_parser = named::<StoreConfig>("OM_STORE"))]
    pub store: StoreConfig,
    /// DynamoDB: write shards per hot index key (1-64), recorded in the table when it is
    /// created.
    #[arg(long, env = "OM_DYNAMODB_SHARDS", default_value = "8", value_parser = dynamodb_shards)]
    pub dynamodb_shards: u32,
    /// Log format.
    #[arg(long, env = "OM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Which drop-in routes for other clients are served besides `/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompatMode {
    /// The original Serverlesspresso Lambda API (`GET /orders`, `PUT /orders/{id}`...), for the
    /// open-source barista, order and display apps.
    #[default]
    Serverlesspresso,
    /// Only `/v1`.
    None,
}

/// `OM_COMPAT`: `serverlesspresso` or `none`.
fn compat_mode(s: &str) -> Result<CompatMode, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "serverlesspresso" => Ok(CompatMode::Serverlesspresso),
        "none" | "off" => Ok(CompatMode::None),
        _ => Err(format!(
            "OM_COMPAT: expected `serverlesspresso` (the original apps' routes) or `none`, got `{s}`"
        )),
    }
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Where the service listens (an unspecified address such as 0.0.0.0 is asked on
    /// loopback).
    #[arg(long, env = "OM_LISTEN", default_value = "127.0.0.1:8080", value_parser = named::<SocketAddr>("OM_LISTEN"))]
    pub listen: SocketAddr,
}

impl HealthcheckArgs {
    /// The readiness URL of the service on this host.
    pub fn url(&self) -> String {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}/readyz")
    }
}

#[derive(Debug, Clone, Args)]
pub struct OpenapiArgs {
    /// Include the Serverlesspresso-compatible routes (`serverlesspresso`) or not (`none`).
    #[arg(long, env = "OM_COMPAT", default_value = "serverlesspresso", value_parser = compat_mode)]
    pub compat: CompatMode,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// A `cognito:groups` entry; repeat for several (`--group admin` makes a barista).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// How long the token is valid.
    #[arg(long, default_value = "12h")]
    pub ttl: Span,
    #[command(flatten)]
    pub jwt: JwtArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        let err = Cli::try_parse_from(["order-manager", "--store", "postgres://x"]).unwrap_err();
        assert!(err.to_string().contains("OM_STORE"), "{err}");
        let err = Cli::try_parse_from(["order-manager", "--listen", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("OM_LISTEN"), "{err}");
    }

    #[test]
    fn serve_is_the_default_subcommand() {
        let cli = Cli::try_parse_from(["order-manager", "--store", "sqlite:/tmp/x.db"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.store, StoreConfig::Sqlite("/tmp/x.db".into()));
    }

    #[test]
    fn events_default_to_the_serverlesspresso_bus() {
        let cli = Cli::try_parse_from(["order-manager"]).unwrap();
        assert_eq!(cli.serve.events(), EventsKind::None, "no AWS by default");
        assert_eq!(cli.serve.event_bus, "Serverlesspresso");
        assert_eq!(cli.serve.event_source, "awsserverlessda.serverlesspresso");
        let cli = Cli::try_parse_from([
            "order-manager",
            "--events",
            "none",
            "--event-bus",
            "arn:aws:events:us-east-1:123456789012:event-bus/shop",
        ])
        .unwrap();
        assert_eq!(cli.serve.events(), EventsKind::None);
        assert_eq!(
            cli.serve.event_bus,
            "arn:aws:events:us-east-1:123456789012:event-bus/shop"
        );
    }

    #[test]
    fn bad_event_and_timing_settings_name_their_variable() {
        for (flag, value, var) in [
            ("--event-bus", "", "OM_EVENT_BUS"),
            ("--event-bus", "my bus", "OM_EVENT_BUS"),
            ("--event-source", "", "OM_EVENT_SOURCE"),
            ("--event-source", "a b", "OM_EVENT_SOURCE"),
            ("--shutdown-grace", "soon", "OM_SHUTDOWN_GRACE"),
            ("--request-timeout", "10 parsecs", "OM_REQUEST_TIMEOUT"),
            ("--events", "kafka", "eventbridge"),
        ] {
            let err = Cli::try_parse_from(["order-manager", flag, value]).unwrap_err();
            assert!(err.to_string().contains(var), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn dynamodb_stores_parse_and_bad_ones_name_their_variable() {
        let cli = Cli::try_parse_from([
            "order-manager",
            "--store",
            "dynamodb:orders.prod-1",
            "--dynamodb-shards",
            "16",
            "--create-table",
        ])
        .unwrap();
        assert_eq!(
            cli.serve.store,
            StoreConfig::Dynamodb {
                table: "orders.prod-1".into()
            }
        );
        assert_eq!(cli.serve.dynamodb_shards, 16);
        assert!(cli.serve.create_table);
        let cli = Cli::try_parse_from(["order-manager"]).unwrap();
        assert_eq!(cli.serve.dynamodb_shards, 8);
        assert!(!cli.serve.create_table);
        for (flag, value, var) in [
            ("--store", "dynamodb:ab", "OM_STORE"),
            ("--store", "dynamodb:has space", "OM_STORE"),
            ("--store", "dynamodb:", "OM_STORE"),
            ("--dynamodb-shards", "0", "OM_DYNAMODB_SHARDS"),
            ("--dynamodb-shards", "65", "OM_DYNAMODB_SHARDS"),
            ("--processor-store", "dynamodb:orders", "OM_PROCESSOR_STORE"),
        ] {
            let err = Cli::try_parse_from(["order-manager", flag, value]).unwrap_err();
            assert!(err.to_string().contains(var), "{flag} {value}: {err}");
        }
        let err = Cli::try_parse_from(["order-manager", "--create-table=maybe"]).unwrap_err();
        assert!(err.to_string().contains("OM_CREATE_TABLE"), "{err}");
        let cli = Cli::try_parse_from(["order-manager", "--create-table=false"]).unwrap();
        assert!(!cli.serve.create_table);
        let long = format!("dynamodb:{}", "t".repeat(256));
        assert!(long.parse::<StoreConfig>().is_err());
    }

    #[test]
    fn migrate_takes_the_store() {
        let cli = Cli::try_parse_from(["order-manager", "migrate", "--store", "dynamodb:orders"])
            .unwrap();
        let Some(Command::Migrate(args)) = cli.command else {
            panic!("not migrate")
        };
        assert_eq!(
            args.store,
            StoreConfig::Dynamodb {
                table: "orders".into()
            }
        );
        assert_eq!(args.dynamodb_shards, 8);
    }

    #[test]
    fn compat_is_on_by_default_and_bad_values_name_the_variable() {
        let cli = Cli::try_parse_from(["order-manager"]).unwrap();
        assert_eq!(cli.serve.compat, CompatMode::Serverlesspresso);
        let cli = Cli::try_parse_from(["order-manager", "--compat", "none"]).unwrap();
        assert_eq!(cli.serve.compat, CompatMode::None);
        let err = Cli::try_parse_from(["order-manager", "--compat", "lambda"]).unwrap_err();
        assert!(err.to_string().contains("OM_COMPAT"), "{err}");
        assert!(err.to_string().contains("serverlesspresso"), "{err}");
        let cli = Cli::try_parse_from(["order-manager", "openapi", "--compat", "none"]).unwrap();
        let Some(Command::Openapi(args)) = cli.command else {
            panic!("not openapi")
        };
        assert_eq!(args.compat, CompatMode::None);
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(Span::from_str("15m").unwrap().0, Duration::from_secs(900));
        assert!(Span::from_str("soon").is_err());
    }

    const SECRET: &str = "a-local-secret-of-at-least-32-bytes!";
    const POOL: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123";

    fn serve(args: &[&str]) -> Result<ServeArgs, String> {
        let argv = ["order-manager", "--jwt-secret", SECRET]
            .into_iter()
            .chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.serve)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn without_an_issuer_tokens_are_local_and_with_one_cognito() {
        let local = serve(&[]).unwrap().tokens().unwrap();
        assert!(matches!(local, TokenSettings::Local { .. }));
        let args = serve(&[
            "--cognito-issuer",
            &format!("{POOL}/"),
            "--cognito-client-ids",
            "client1,client2",
        ])
        .unwrap();
        let TokenSettings::Cognito(c) = args.tokens().unwrap() else {
            panic!("not Cognito")
        };
        assert_eq!(c.issuer, POOL);
        assert_eq!(c.client_ids, ["client1", "client2"]);
        assert_eq!(c.jwks_url, format!("{POOL}/.well-known/jwks.json"));
        assert_eq!(c.token_uses, [TokenUse::Access]);
        let args = serve(&[
            "--cognito-issuer",
            POOL,
            "--cognito-client-ids",
            "client1",
            "--jwks-url",
            "http://127.0.0.1:5999/pool/.well-known/jwks.json",
            "--cognito-token-use",
            "access,id",
        ])
        .unwrap();
        let TokenSettings::Cognito(c) = args.tokens().unwrap() else {
            panic!("not Cognito")
        };
        assert_eq!(
            c.jwks_url,
            "http://127.0.0.1:5999/pool/.well-known/jwks.json"
        );
        assert_eq!(c.token_uses, [TokenUse::Access, TokenUse::Id]);
    }

    #[test]
    fn bad_sign_in_and_cors_settings_name_their_variable() {
        for (args, var) in [
            (
                vec![
                    "--cognito-issuer",
                    "http://cognito-idp.eu-west-1.amazonaws.com/p",
                ],
                "OM_COGNITO_ISSUER",
            ),
            (
                vec![
                    "--cognito-issuer",
                    "https://cognito-idp.eu-west-1.amazonaws.com",
                ],
                "OM_COGNITO_ISSUER",
            ),
            (
                vec!["--cognito-client-ids", "has space"],
                "OM_COGNITO_CLIENT_IDS",
            ),
            (
                vec!["--cognito-token-use", "refresh"],
                "OM_COGNITO_TOKEN_USE",
            ),
            (
                vec!["--jwks-url", "http://keys.example.com/jwks.json"],
                "OM_JWKS_URL",
            ),
            (
                vec!["--jwks-url", "ftp://127.0.0.1/jwks.json"],
                "OM_JWKS_URL",
            ),
            (
                vec!["--cors-origins", "https://app.example.com/"],
                "OM_CORS_ORIGINS",
            ),
            (
                vec!["--cors-origins", "*,https://app.example.com"],
                "OM_CORS_ORIGINS",
            ),
        ] {
            let err = serve(&args).unwrap_err();
            assert!(err.contains(var), "{args:?}: {err}");
        }
        let err = serve(&["--cognito-issuer", POOL])
            .unwrap()
            .tokens()
            .unwrap_err();
        assert!(err.contains("OM_COGNITO_CLIENT_IDS"), "{err}");
        let err = serve(&["--cognito-client-ids", "c1"])
            .unwrap()
            .tokens()
            .unwrap_err();
        assert!(err.contains("OM_COGNITO_ISSUER"), "{err}");
        let origins = serve(&[
            "--cors-origins",
            "https://a.example.com,http://localhost:3000",
        ])
        .unwrap()
        .cors_origins
        .unwrap();
        assert!(
            matches!(origins, CorsOrigins::List(ref l) if l.len() == 2),
            "{origins:?}"
        );
        assert_eq!(serve(&[]).unwrap().cors_origins, None, "no CORS by default");
    }

    #[test]
    fn ingest_credentials_combine_and_errors_never_show_them() {
        let args = serve(&[
            "--ingest-api-key",
            "single-key-0123456789",
            "--ingest-api-keys",
            "old-key-0123456789, new-key-0123456789,",
            "--ingest-basic",
            "eventbridge:basic-password-0123456789,other:other-password-0123456",
        ])
        .unwrap();
        assert_eq!(args.ingest_keys().unwrap().len(), 3);
        let basic = args.ingest_basic().unwrap();
        assert_eq!(basic.len(), 2);
        assert_eq!(basic[1].user, "other");
        assert!(serve(&[]).unwrap().ingest_keys().unwrap().is_empty());
        for (args, var, secret) in [
            (
                vec!["--ingest-api-key", "short-secret"],
                "OM_INGEST_API_KEY",
                "short-secret",
            ),
            (
                vec!["--ingest-api-keys", "good-key-0123456789,tiny-secret"],
                "OM_INGEST_API_KEYS",
                "tiny-secret",
            ),
        ] {
            let err = serve(&args).unwrap().ingest_keys().unwrap_err();
            assert!(err.contains(var) && !err.contains(secret), "{err}");
        }
        for value in [
            "eventbridge:short-pass",
            "no-colon-password-0123456789",
            ":password-without-user-0123",
        ] {
            let err = serve(&["--ingest-basic", value])
                .unwrap()
                .ingest_basic()
                .unwrap_err();
            assert!(err.contains("OM_INGEST_BASIC"), "{err}");
            assert!(
                !err.contains("short-pass") && !err.contains("0123"),
                "{err}"
            );
        }
    }
}
