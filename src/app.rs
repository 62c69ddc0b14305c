//! The composition root: picks the backends (store, workflow, event bus) from the
//! configuration, wires the service, the HTTP edge and the dispatcher, and runs them until
//! shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{EventsKind, Settings, StoreConfig, StoreOptions, WorkflowKind};
use crate::domain::events::WorkflowEvent;
use crate::domain::ids::EnvelopeId;
use crate::domain::ports::{EventPublisher, OrderStore, Workflow};
use crate::domain::service::OrderService;
use crate::inbound::http::auth::{Authenticator, IngestAuth};
use crate::inbound::http::hardening::harden;
use crate::inbound::http::{AppState, Shared, router};
use crate::outbound::dynamodb::DynamoStore;
use crate::outbound::embedded::{EmbeddedProcessor, EventSink};
use crate::outbound::eventbridge::EventBridgePublisher;
use crate::outbound::no_events::LogOnlyPublisher;
use crate::outbound::sqlite::SqliteStore;
use crate::outbound::stepfunctions::StepFunctionsWorkflow;

/// The one place that turns the store configuration into a store.
pub async fn open_store(
    config: &StoreConfig,
    options: StoreOptions,
) -> anyhow::Result<Arc<dyn OrderStore>> {
    match config {
        StoreConfig::Sqlite(path) => {
            let store = SqliteStore::open_with(path, options.sqlite).with_context(|| {
                format!("cannot open the SQLite store {} (OM_STORE)", path.display())
            })?;
            tracing::info!(store = "sqlite", path = %path.display(), "order store ready");
            Ok(Arc::new(store))
        }
        StoreConfig::Dynamodb { table } => {
            let store = DynamoStore::from_env(table, options.dynamodb_shards, options.create_table)
                .await
                .with_context(|| format!("cannot open the DynamoDB store `{table}` (OM_STORE)"))?;
            tracing::info!(
                store = "dynamodb",
                table = %table,
                shards = options.dynamodb_shards,
                "order store ready"
            );
            Ok(Arc::new(store))
        }
    }
}

/// `order-manager migrate`: brings the store's schema up to date (idempotent).
pub async fn migrate_store(config: &StoreConfig, dynamodb_shards: u32) -> anyhow::Result<()> {
    match config {
        StoreConfig::Sqlite(path) => {
            SqliteStore::open(path).with_context(|| {
                format!(
                    "cannot migrate the SQLite store {} (OM_STORE)",
                    path.display()
                )
            })?;
            tracing::info!(store = "sqlite", path = %path.display(), "migrations applied");
        }
        StoreConfig::Dynamodb { table } => {
            let client = crate::outbound::dynamodb::client_from_env().await;
            crate::outbound::dynamodb::migrate(&client, table, dynamodb_shards)
                .await
                .with_context(|| {
                    format!("cannot migrate the DynamoDB table `{table}` (OM_STORE)")
                })?;
            tracing::info!(
                store = "dynamodb",
                table = %table,
                shards = dynamodb_shards,
                "table and indexes are up to date"
            );
        }
    }
    Ok(())
}

/// The backends a service runs on.
pub struct Backends {
    pub store: Arc<dyn OrderStore>,
    pub workflow: Arc<dyn Workflow>,
    pub publisher: Arc<dyn EventPublisher>,
    /// The embedded order processor, when it is the workflow: it runs beside the service.
    pub processor: Option<Arc<EmbeddedProcessor>>,
}

impl Backends {
    /// The backends the settings name: the store, the workflow and the event bus.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Backends> {
        let store = open_store(&settings.store, settings.store_options).await?;
        let (workflow, processor) = connect_workflow(settings).await?;
        let publisher =
            connect_publisher(settings.events, &settings.event_bus, &settings.event_source).await;
        Ok(Backends {
            store,
            workflow,
            publisher,
            processor,
        })
    }
}

/// The one place that turns the workflow configuration into a workflow.
pub async fn connect_workflow(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn Workflow>, Option<Arc<EmbeddedProcessor>>)> {
    match settings.workflow {
        WorkflowKind::Embedded => {
            let StoreConfig::Sqlite(path) = &settings.processor_store else {
                anyhow::bail!("OM_PROCESSOR_STORE must be `sqlite:<path>`");
            };
            let processor =
                EmbeddedProcessor::open(path, settings.processor).with_context(|| {
                    format!(
                        "cannot open the order processor's store {} (OM_PROCESSOR_STORE)",
                        path.display()
                    )
                })?;
            tracing::info!(
                workflow = "embedded",
                path = %path.display(),
                customer_timeout = ?settings.processor.customer_timeout,
                barista_timeout = ?settings.processor.barista_timeout,
                "the embedded order processor runs the workflow"
            );
            Ok((processor.clone(), Some(processor)))
        }
        WorkflowKind::Stepfunctions => {
            tracing::info!(
                workflow = "stepfunctions",
                order_processor = settings.order_processor_arn.as_deref().unwrap_or("none"),
                "workflow callbacks go to AWS Step Functions"
            );
            let sfn = StepFunctionsWorkflow::from_env()
                .await
                .with_order_processor(
                    settings.order_processor_arn.clone(),
                    settings.order_processor_input.clone(),
                );
            Ok((Arc::new(sfn), None))
        }
    }
}

/// Hands the embedded processor's events to the ingest logic, as an API destination would.
struct IngestSink(OrderService);

#[async_trait::async_trait]
impl EventSink for IngestSink {
    async fn deliver(&self, envelope: &EnvelopeId, event: &WorkflowEvent) -> Result<(), String> {
        self.0
            .ingest(envelope, event)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The one place that turns the events configuration into a publisher.
pub async fn connect_publisher(
    kind: EventsKind,
    bus: &str,
    source: &str,
) -> Arc<dyn EventPublisher> {
    match kind {
        EventsKind::Eventbridge => {
            tracing::info!(
                events = "eventbridge",
                event_bus = bus,
                event_source = source,
                "OrderManager.* events go to Amazon EventBridge"
            );
            Arc::new(EventBridgePublisher::from_env(bus, source).await)
        }
        EventsKind::None => {
            tracing::info!(
                events = "none",
                "no event bus: OrderManager.* events are only logged"
            );
            Arc::new(LogOnlyPublisher)
        }
    }
}

/// A built service, bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    service: OrderService,
    processor: Option<Arc<EmbeddedProcessor>>,
    /// Tells live streams to end, so that shutdown is not held up by them.
    closing: watch::Sender<bool>,
    shutdown_grace: Duration,
}

impl Application {
    /// Builds the service on `backends` ([`Backends::connect`], or doubles in tests) and
    /// binds its address.
    pub async fn build(settings: Settings, backends: Backends) -> anyhow::Result<Application> {
        let Backends {
            store,
            workflow,
            publisher,
            processor,
        } = backends;
        let ingest = IngestAuth::new(
            settings.ingest_header.clone(),
            &settings.ingest_keys,
            &settings.ingest_basic,
        );
        if !ingest.is_enabled() {
            tracing::warn!(
                "no OM_INGEST_API_KEY(S) or OM_INGEST_BASIC: POST /v1/events refuses every request"
            );
        }
        // Metrics are recorded from the first request on (the recorder is process-wide).
        crate::telemetry::prometheus();
        let service = OrderService::new(store, workflow, publisher, settings.service.clone());
        let verifier = settings.tokens.verifier().await?;
        let (closing, closing_rx) = watch::channel(false);
        let state = AppState::new(Shared {
            service: service.clone(),
            auth: Arc::new(Authenticator::new(
                verifier,
                settings.barista_groups.clone(),
            )),
            ingest: Arc::new(ingest),
            heartbeat: settings.heartbeat,
            closing: closing_rx,
            request_timeout: settings.request_timeout,
        });
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} (OM_LISTEN)", settings.listen))?;
        Ok(Application {
            listener,
            router: harden(router(state, settings.compat), &settings.cors_origins),
            service,
            processor,
            closing,
            shutdown_grace: settings.shutdown_grace,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes. Then, within the grace period (`OM_SHUTDOWN_GRACE`):
    /// stops accepting connections, ends live streams, lets in-flight requests finish, and
    /// delivers the callbacks and notices owed. What the period cuts off is safe in the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "order-manager listening");
        let dispatcher = tokio::spawn(self.service.clone().run_dispatcher());
        let processor = self
            .processor
            .map(|p| tokio::spawn(p.run(Arc::new(IngestSink(self.service.clone())))));
        let closing = self.closing;
        let grace = self.shutdown_grace;
        // Set when the shutdown begins: the moment everything must be done by.
        let deadline = Arc::new(std::sync::OnceLock::new());
        let began = Arc::new(tokio::sync::Notify::new());
        // Each connection gets the router as it is (an `Arc` clone), its routes made ready once
        // here. Served as is, axum makes them ready again for every connection: a deep copy of
        // every route and layer that stays while the connection is open (resident memory per
        // open connection ~85 KB then, ~21 KB now: see docs/benchmarks.md, "Memory").
        let make_service = self.router.with_state(()).into_make_service();
        let served = axum::serve(self.listener, make_service).with_graceful_shutdown({
            let (deadline, began) = (deadline.clone(), began.clone());
            async move {
                shutdown.await;
                let _ = deadline.set(tokio::time::Instant::now() + grace);
                began.notify_one();
                let _ = closing.send(true);
            }
        });
        let mut served = std::pin::pin!(served.into_future());
        // Until the shutdown begins, the server; then the server until the deadline.
        let served = tokio::select! {
            result = &mut served => result,
            () = began.notified() => {
                let until = *deadline.get().expect("set before the notification");
                tokio::time::timeout_at(until, &mut served).await.unwrap_or_else(|_| {
                    tracing::warn!(grace = ?grace, "shutdown: requests still in flight at the deadline; cut off");
                    Ok(())
                })
            }
        };
        dispatcher.abort();
        if let Some(p) = processor {
            p.abort();
        }
        if let Some(&deadline) = deadline.get() {
            self.service.drain(deadline).await;
            tracing::info!("shut down");
        }
        served.context("the HTTP server failed")
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
