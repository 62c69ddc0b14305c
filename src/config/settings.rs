//! The settings the service starts with, validated: built from the flags in one place.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderName;
use secrecy::SecretString;

use super::{CompatMode, EventsKind, ServeArgs, StartInputMode, StoreConfig, WorkflowKind};
use crate::domain::service::ServiceConfig;
use crate::inbound::http::auth::{BasicCredential, TokenSettings};
use crate::inbound::http::hardening::CorsOrigins;
use crate::outbound::database::SqliteOptions;
use crate::outbound::embedded::ProcessorConfig;
use crate::outbound::stepfunctions::StartInput;

/// How often live streams send a heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Everything the service needs to start, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    /// How the order store is opened.
    pub store_options: StoreOptions,
    pub workflow: WorkflowKind,
    /// The embedded processor's database and waits (with `OM_WORKFLOW=embedded`).
    pub processor_store: StoreConfig,
    pub processor: ProcessorConfig,
    /// The OrderProcessor state machine `POST /v1/orders` starts (with Step Functions), and
    /// with what.
    pub order_processor_arn: Option<String>,
    pub order_processor_input: StartInput,
    /// Where the `OrderManager.*` events go, and on which bus, with which source.
    pub events: EventsKind,
    pub event_bus: String,
    pub event_source: String,
    /// Ingest credentials: API keys in `ingest_header`, and HTTP Basic; all valid at once.
    pub ingest_header: HeaderName,
    pub ingest_keys: Vec<SecretString>,
    pub ingest_basic: Vec<BasicCredential>,
    /// How bearer tokens are verified: local HS256 or Cognito RS256.
    pub tokens: TokenSettings,
    pub barista_groups: Vec<String>,
    /// The origins browsers may call the API from.
    pub cors_origins: CorsOrigins,
    /// Drop-in routes for the Serverlesspresso apps (`OM_COMPAT`).
    pub compat: CompatMode,
    /// How often live streams send a heartbeat.
    pub heartbeat: Duration,
    /// How long a shutdown may take: in-flight requests, then owed callbacks and notices.
    pub shutdown_grace: Duration,
    /// The longest a request may take.
    pub request_timeout: Duration,
    pub service: ServiceConfig,
}

/// How a store is set up: DynamoDB's `OM_DYNAMODB_SHARDS` and `--create-table`, SQLite's
/// `OM_SQLITE_SYNC` and `OM_SQLITE_WAL_APPENDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Write shards per hot index key; must match what the table recorded.
    pub dynamodb_shards: u32,
    /// Create or update the table before use, as `order-manager migrate` does.
    pub create_table: bool,
    /// SQLite: what an acknowledged write survives, and how it is written.
    pub sqlite: SqliteOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            dynamodb_shards: crate::outbound::dynamodb::DEFAULT_SHARDS,
            create_table: false,
            sqlite: SqliteOptions::default(),
        }
    }
}

impl ServeArgs {
    /// The settings these flags name, or the first error, naming its variable (the HS256
    /// secret file is read, or generated, here in local mode).
    pub fn settings(&self) -> Result<Settings, String> {
        let (workflow, events) = (&self.workflow, &self.events);
        let sqlite = self.store_setup.sqlite();
        let mut service = ServiceConfig::new(self.default_event_id.clone());
        service.cancel_callback = workflow.cancel_callback.into();
        service.shop = self.shop.settings();
        Ok(Settings {
            listen: self.listen.listen,
            store: self.store.store.clone(),
            store_options: StoreOptions {
                dynamodb_shards: self.store.dynamodb_shards,
                create_table: self.store_setup.create_table,
                sqlite,
            },
            workflow: workflow.workflow,
            processor_store: workflow.processor_store.clone(),
            processor: ProcessorConfig {
                customer_timeout: workflow.customer_timeout.0,
                barista_timeout: workflow.barista_timeout.0,
                sqlite,
            },
            order_processor_arn: workflow.order_processor_arn.clone(),
            order_processor_input: match workflow.order_processor_input {
                StartInputMode::Validator => StartInput::ValidatorEvent {
                    source: events.event_source.clone(),
                },
                StartInputMode::Flat => StartInput::Flat,
            },
            events: self.events(),
            event_bus: events.event_bus.clone(),
            event_source: events.event_source.clone(),
            ingest_header: self.ingest.ingest_api_key_header.clone(),
            ingest_keys: self.ingest.keys()?,
            ingest_basic: self.ingest.basic()?,
            tokens: self.auth.tokens()?,
            barista_groups: self.auth.barista_groups()?,
            cors_origins: self.http.cors_origins.clone().unwrap_or_default(),
            compat: self.compat.compat,
            heartbeat: HEARTBEAT,
            shutdown_grace: self.http.shutdown_grace.0,
            request_timeout: self.http.request_timeout.0,
            service,
        })
    }
}
