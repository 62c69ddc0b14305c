//! Where the service publishes its `OrderManager.*` events: the bus and the source.

use clap::{Args, ValueEnum};

use super::values::named_enum;
use super::workflow::WorkflowKind;

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

#[derive(Debug, Clone, Args)]
pub struct EventArgs {
    /// Where the `OrderManager.*` events go: `eventbridge` or `none` (default: `none` with the
    /// embedded processor, `eventbridge` with Step Functions).
    #[arg(long, env = "OM_EVENTS", value_parser = named_enum::<EventsKind>("OM_EVENTS"))]
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
}

impl EventArgs {
    /// The events setting, defaulted by the workflow: no AWS with the embedded processor.
    pub fn kind(&self, workflow: WorkflowKind) -> EventsKind {
        self.events.unwrap_or(match workflow {
            WorkflowKind::Embedded => EventsKind::None,
            WorkflowKind::Stepfunctions => EventsKind::Eventbridge,
        })
    }
}
