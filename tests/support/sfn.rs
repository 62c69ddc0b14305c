//! Step Functions through the SDK's own mocks (`aws-smithy-mocks`): the real adapter
//! ([`StepFunctionsWorkflow`]) over a client whose answers the test chooses. Used where moto
//! cannot help: counting callbacks exactly, and the error classes moto never returns.

use std::sync::{Arc, Mutex};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use order_manager::domain::ports::Workflow;
use order_manager::outbound::stepfunctions::StepFunctionsWorkflow;

/// What the mocked Step Functions received.
#[derive(Clone, Default)]
pub struct Calls {
    /// `(token, output)` of every `SendTaskSuccess`.
    pub successes: Arc<Mutex<Vec<(String, String)>>>,
    /// `(token, error)` of every `SendTaskFailure`.
    pub failures: Arc<Mutex<Vec<(String, String)>>>,
}

impl Calls {
    pub fn successes(&self) -> Vec<(String, String)> {
        self.successes.lock().unwrap().clone()
    }

    pub fn failures(&self) -> Vec<(String, String)> {
        self.failures.lock().unwrap().clone()
    }

    /// Every token called back, success or failure.
    pub fn tokens(&self) -> Vec<String> {
        let mut t: Vec<String> = self.successes().into_iter().map(|(t, _)| t).collect();
        t.extend(self.failures().into_iter().map(|(t, _)| t));
        t
    }
}

/// Step Functions that accepts every callback and records it.
pub fn accepting() -> (Arc<dyn Workflow>, Calls) {
    let calls = Calls::default();
    let s = calls.successes.clone();
    let success = mock!(Client::send_task_success).then_compute_output(move |req| {
        s.lock().unwrap().push((
            req.task_token().unwrap_or_default().to_string(),
            req.output().unwrap_or_default().to_string(),
        ));
        SendTaskSuccessOutput::builder().build()
    });
    let f = calls.failures.clone();
    let failure = mock!(Client::send_task_failure).then_compute_output(move |req| {
        f.lock().unwrap().push((
            req.task_token().unwrap_or_default().to_string(),
            req.error().unwrap_or_default().to_string(),
        ));
        SendTaskFailureOutput::builder().build()
    });
    (workflow_with(&[&success, &failure]), calls)
}

/// The real adapter over a client that answers with `rules`, in order.
pub fn workflow_with(rules: &[&Rule]) -> Arc<dyn Workflow> {
    let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules);
    Arc::new(StepFunctionsWorkflow::new(client))
}
