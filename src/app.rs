//! The composition root: picks the backends from the configuration, wires the service, the
//! HTTP edge and the callback dispatcher, and runs them until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::HeaderName;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::{ServeArgs, StoreConfig, WorkflowKind};
use crate::domain::ports::{OrderStore, Workflow};
use crate::domain::service::{OrderService, ServiceConfig};
use crate::inbound::http::auth::{Authenticator, Hs256Verifier, IngestAuth};
use crate::inbound::http::{AppState, router};
use crate::outbound::no_events::LogOnlyPublisher;
use crate::outbound::sqlite::SqliteStore;
use crate::outbound::stepfunctions::StepFunctionsWorkflow;

/// Everything the service needs to start, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub workflow: WorkflowKind,
    pub ingest_header: HeaderName,
    pub ingest_key: Option<SecretString>,
    pub jwt_secret: SecretString,
    pub barista_groups: Vec<String>,
    pub service: ServiceConfig,
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Result<Settings, String> {
        let mut service = ServiceConfig::new(args.default_event_id.clone());
        service.cancel_callback = args.cancel_callback.into();
        Ok(Settings {
            listen: args.listen,
            store: args.store.clone(),
            workflow: args.workflow,
            ingest_header: args.ingest_api_key_header.clone(),
            ingest_key: args.ingest_key()?,
            jwt_secret: args.jwt.resolve()?,
            barista_groups: args.barista_groups()?,
            service,
        })
    }
}

/// The one place that turns the store configuration into a store.
pub fn open_store(config: &StoreConfig) -> anyhow::Result<Arc<dyn OrderStore>> {
    match config {
        StoreConfig::Sqlite(path) => {
            let store = SqliteStore::open(path).with_context(|| {
                format!("cannot open the SQLite store {} (OM_STORE)", path.display())
            })?;
            tracing::info!(store = "sqlite", path = %path.display(), "order store ready");
            Ok(Arc::new(store))
        }
    }
}

/// The one place that turns the workflow configuration into a workflow.
pub async fn connect_workflow(kind: WorkflowKind) -> Arc<dyn Workflow> {
    match kind {
        WorkflowKind::Stepfunctions => {
            tracing::info!(
                workflow = "stepfunctions",
                "workflow callbacks go to AWS Step Functions"
            );
            Arc::new(StepFunctionsWorkflow::from_env().await)
        }
    }
}

/// A built service, bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    service: OrderService,
}

impl Application {
    /// Builds the service with the backends the settings name.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = open_store(&settings.store)?;
        let workflow = connect_workflow(settings.workflow).await;
        Self::build_with(settings, store, workflow).await
    }

    /// Builds the service on given backends (tests inject doubles here).
    pub async fn build_with(
        settings: Settings,
        store: Arc<dyn OrderStore>,
        workflow: Arc<dyn Workflow>,
    ) -> anyhow::Result<Application> {
        if settings.ingest_key.is_none() {
            tracing::warn!("no OM_INGEST_API_KEY: POST /v1/events refuses every request");
        }
        let service = OrderService::new(
            store,
            workflow,
            Arc::new(LogOnlyPublisher),
            settings.service.clone(),
        );
        let verifier = Arc::new(Hs256Verifier::new(&settings.jwt_secret));
        let state = AppState {
            service: service.clone(),
            auth: Arc::new(Authenticator::new(
                verifier,
                settings.barista_groups.clone(),
            )),
            ingest: Arc::new(IngestAuth::new(
                settings.ingest_header.clone(),
                settings.ingest_key.clone(),
            )),
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} (OM_LISTEN)", settings.listen))?;
        Ok(Application {
            listener,
            router: router(state),
            service,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "order-manager listening");
        let dispatcher = tokio::spawn(self.service.clone().run_dispatcher());
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        // Pending callbacks are in the store; the next start picks them up.
        dispatcher.abort();
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
