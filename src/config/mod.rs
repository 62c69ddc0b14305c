//! Command line and configuration: every flag falls back to an `OM_*` environment variable.
//! A bad value stops start-up with a message naming the variable.
//!
//! Each flag is declared once, in the file of its concern; a subcommand takes the groups it
//! needs (`#[command(flatten)]`).

mod auth;
mod compat;
mod events;
mod ingest;
mod listen;
mod secret;
mod settings;
mod shop;
mod store;
mod values;
mod workflow;

#[cfg(test)]
mod tests;

use clap::{Args, Parser, Subcommand};

pub use auth::{AuthArgs, JwtArgs};
pub use compat::{CompatArgs, CompatMode};
pub use events::{EventArgs, EventsKind};
pub use ingest::IngestArgs;
pub use listen::{HttpArgs, ListenArgs, LogArgs, LogFormat};
pub use settings::{Settings, StoreOptions};
pub use shop::{ShopArgs, ShopState};
pub use store::{SqliteSync, StoreArgs, StoreConfig, StoreSetupArgs, Switch};
pub use values::Span;
pub use workflow::{CancelMode, StartInputMode, WorkflowArgs, WorkflowKind};

use crate::domain::ids::EventId;
use values::named;

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

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub store_setup: StoreSetupArgs,
    #[command(flatten)]
    pub workflow: WorkflowArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    /// Coffee event of events and requests that name none.
    #[arg(long, env = "OM_DEFAULT_EVENT_ID", default_value = "default", value_parser = named::<EventId>("OM_DEFAULT_EVENT_ID"))]
    pub default_event_id: EventId,
    #[command(flatten)]
    pub shop: ShopArgs,
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub compat: CompatArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl ServeArgs {
    /// The events setting, defaulted by the workflow: no AWS with the embedded processor.
    pub fn events(&self) -> EventsKind {
        self.events.kind(self.workflow.workflow)
    }
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Args)]
#[command(mut_arg("listen", |a| a.help(
    "Where the service listens (an unspecified address such as 0.0.0.0 is asked on loopback)"
)))]
pub struct HealthcheckArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Clone, Args)]
#[command(mut_arg("compat", |a| a.help(
    "Include the Serverlesspresso-compatible routes (`serverlesspresso`) or not (`none`)"
)))]
pub struct OpenapiArgs {
    #[command(flatten)]
    pub compat: CompatArgs,
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
