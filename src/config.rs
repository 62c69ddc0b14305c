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

/// How cancellations release the workflow's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CancelMode {
    /// `SendTaskFailure` with error `OrderCancelled`.
    Failure,
    /// `SendTaskSuccess` with `{"outcome": "cancelled"}`.
    Success,
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
    /// API key the EventBridge connection sends on `POST /v1/events`. Without one, ingest is
    /// refused. Prefer the environment variable.
    #[arg(long, env = "OM_INGEST_API_KEY", hide_env_values = true)]
    pub ingest_api_key: Option<String>,
    /// Header that carries the ingest API key.
    #[arg(long, env = "OM_INGEST_API_KEY_HEADER", default_value = "x-api-key", value_parser = named::<HeaderName>("OM_INGEST_API_KEY_HEADER"))]
    pub ingest_api_key_header: HeaderName,
    #[command(flatten)]
    pub jwt: JwtArgs,
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
        default_value = "failure"
    )]
    pub cancel_callback: CancelMode,
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
    /// The events setting, defaulted by the workflow: no AWS with the embedded processor.
    pub fn events(&self) -> EventsKind {
        self.events.unwrap_or(match self.workflow {
            WorkflowKind::Embedded => EventsKind::None,
            WorkflowKind::Stepfunctions => EventsKind::Eventbridge,
        })
    }

    pub fn ingest_key(&self) -> Result<Option<SecretString>, String> {
        match self.ingest_api_key.as_deref() {
            None => Ok(None),
            Some(k) if k.len() < 16 => {
                Err("OM_INGEST_API_KEY must be at least 16 characters".to_string())
            }
            Some(k) => Ok(Some(SecretString::from(k.to_string()))),
        }
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
    fn bad_event_settings_name_their_variable() {
        for (flag, value, var) in [
            ("--event-bus", "", "OM_EVENT_BUS"),
            ("--event-bus", "my bus", "OM_EVENT_BUS"),
            ("--event-source", "", "OM_EVENT_SOURCE"),
            ("--event-source", "a b", "OM_EVENT_SOURCE"),
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
    fn ttls_parse() {
        assert_eq!(Span::from_str("15m").unwrap().0, Duration::from_secs(900));
        assert!(Span::from_str("soon").is_err());
    }
}
