//! The order store (`OM_STORE`) and how it is set up: DynamoDB's shards and table creation,
//! SQLite's syncs and WAL appends.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

use super::values::{named, named_as, named_enum};
use crate::outbound::database::SqliteOptions;
use crate::outbound::dynamodb::MAX_SHARDS;

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

/// The embedded processor's store (`OM_PROCESSOR_STORE`): SQLite only.
pub(super) fn processor_store(s: &str) -> Result<StoreConfig, String> {
    match s.parse::<StoreConfig>() {
        Ok(c @ StoreConfig::Sqlite(_)) => Ok(c),
        _ => Err(format!(
            "OM_PROCESSOR_STORE: the embedded processor keeps its executions in SQLite: expected `sqlite:<path>`, got `{s}`"
        )),
    }
}

/// The order store: for `serve`, and for `migrate`, which brings its schema up to date.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Order store: `sqlite:<path>` or `dynamodb:<table>`.
    #[arg(long, env = "OM_STORE", default_value = "sqlite:data/orders.db", value_parser = named::<StoreConfig>("OM_STORE"))]
    pub store: StoreConfig,
    /// DynamoDB: write shards per hot index key (1-64), recorded in the table when it is
    /// created: a different value on an existing table stops start-up.
    #[arg(long, env = "OM_DYNAMODB_SHARDS", default_value = "8", value_parser = named_as(
        "OM_DYNAMODB_SHARDS",
        format!("1 to {MAX_SHARDS}"),
        clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)),
    ))]
    pub dynamodb_shards: u32,
}

/// When SQLite syncs its WAL (`OM_SQLITE_SYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSync {
    /// Each commit, before its writes are answered.
    Full,
    /// At checkpoints only.
    Normal,
}

impl From<SqliteSync> for crate::outbound::sqlite::Durability {
    fn from(s: SqliteSync) -> Self {
        match s {
            SqliteSync::Full => Self::Full,
            SqliteSync::Normal => Self::Normal,
        }
    }
}

/// Whether a feature is on (`on`) or off (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
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

/// How `serve` opens its stores.
#[derive(Debug, Clone, Args)]
pub struct StoreSetupArgs {
    /// SQLite (the order store and the embedded processor's): `full` (an acknowledged write
    /// is on stable storage: it survives a power cut) or `normal` (it survives a crash of
    /// the process; a power cut may lose the last second or so of them).
    #[arg(long, env = "OM_SQLITE_SYNC", default_value = "full", value_parser = named_enum::<SqliteSync>("OM_SQLITE_SYNC"))]
    pub sqlite_sync: SqliteSync,
    /// SQLite: append each commit to the WAL in one write, through the engine's VFS (`on`),
    /// or write it as SQLite's own VFS does (`off`). On an SQLite version the VFS was not
    /// written for, it is off whatever this says (and a warning is logged).
    #[arg(long, env = "OM_SQLITE_WAL_APPENDS", default_value = "on", value_parser = named_enum::<Switch>("OM_SQLITE_WAL_APPENDS"))]
    pub sqlite_wal_appends: Switch,
    /// DynamoDB: create or update the table at start-up, as `order-manager migrate` does
    /// (for local use; in production, run `migrate` once per deployment).
    #[arg(long, env = "OM_CREATE_TABLE", value_parser = create_table, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub create_table: bool,
}

impl StoreSetupArgs {
    /// How the embedded SQLite databases are written (`OM_SQLITE_SYNC`,
    /// `OM_SQLITE_WAL_APPENDS`).
    pub fn sqlite(&self) -> SqliteOptions {
        SqliteOptions {
            durability: self.sqlite_sync.into(),
            wal_appends: self.sqlite_wal_appends == Switch::On,
        }
    }
}
