//! A fake AWS Step Functions endpoint for the fault tests: an axum server on 127.0.0.1 that
//! speaks the AWS JSON 1.0 protocol the SDK uses for `SendTaskSuccess` / `SendTaskFailure`.
//!
//! Why a fake and not moto: moto cannot be told to answer 5xx on demand, to refuse
//! connections for a while and then come back on the same port, to take a callback but lose
//! its answer, or to pause mid-call so that the caller can be killed; and its task-token
//! bookkeeping does not let a test count, per token, how many calls arrived and which of them
//! took effect. This fake records every call (operation, token, answer, whether it took effect)
//! and switches between [`Mode`]s while the service runs.
//!
//! The wire format (what the SDK sends and parses):
//! - request: `POST /`, `x-amz-target: AWSStepFunctions.SendTaskSuccess` (or
//!   `...SendTaskFailure`), `content-type: application/x-amz-json-1.0`, JSON body with
//!   `taskToken` and `output`, or `error` and `cause`;
//! - success: `200`, `{}`, `content-type: application/x-amz-json-1.0`;
//! - error: a 4xx/5xx status with `{"__type": "<code>", "message": "..."}`.
//!
//! "Down" is a real connection refusal: the fake keeps its port bound but not listening (a
//! SYN to a bound, non-listening socket is answered with RST), so nobody else can take the
//! port and coming back is a plain `listen()` on the same socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `200 {}`: the callback takes effect.
    Accept,
    /// `500 ServiceUnavailable`: nothing takes effect.
    Fail5xx,
    /// Connection refused: the port is bound but not listening.
    Down,
    /// `400 TaskTimedOut`: the workflow no longer waits for this token.
    DeadToken,
    /// The callback takes effect, but the answer is a `500` (as when the answer is lost on
    /// the way back): the caller cannot know it arrived.
    LostAnswer,
}

/// What the fake answers to a token it has already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Accept it again (and count it): lets a test count redeliveries.
    AcceptAgain,
    /// `400 TaskTimedOut` ("Provided task does not exist anymore"), as real Step Functions
    /// answers once the task the token stood for is over.
    TaskTimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Success,
    Failure,
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: Op,
    pub token: String,
    /// `output` of a success, `error` of a failure.
    pub payload: String,
    /// The status answered (0: never answered, the call was paused).
    pub status: u16,
    /// The call took effect (the workflow would have moved on).
    pub took_effect: bool,
    /// The epoch the test had set when the call arrived (e.g. before / after a restart).
    pub epoch: u32,
    pub at: Instant,
}

struct Inner {
    mode: Mode,
    reuse: Reuse,
    epoch: u32,
    calls: Vec<Call>,
    /// A call for this token is recorded (taking effect or not), tells the test, and is
    /// never answered.
    pause: Option<Pause>,
}

struct Pause {
    token: String,
    takes_effect: bool,
    arrived: oneshot::Sender<()>,
}

enum Server {
    Up {
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    },
    /// Bound, not listening: connections are refused.
    Down(TcpSocket),
    /// Only while switching.
    Switching,
}

pub struct FakeStepFunctions {
    addr: SocketAddr,
    state: Arc<Mutex<Inner>>,
    server: tokio::sync::Mutex<Server>,
}

impl FakeStepFunctions {
    /// Starts the fake on a free loopback port in `mode`.
    pub async fn start(mode: Mode) -> FakeStepFunctions {
        let socket = reserve(None);
        let addr = socket.local_addr().unwrap();
        let state = Arc::new(Mutex::new(Inner {
            mode,
            reuse: Reuse::AcceptAgain,
            epoch: 0,
            calls: Vec::new(),
            pause: None,
        }));
        let server = if mode == Mode::Down {
            Server::Down(socket)
        } else {
            serve(socket, state.clone())
        };
        FakeStepFunctions {
            addr,
            state,
            server: tokio::sync::Mutex::new(server),
        }
    }

    /// The value of `AWS_ENDPOINT_URL` for the service.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_reuse(&self, reuse: Reuse) {
        self.inner().reuse = reuse;
    }

    pub fn set_epoch(&self, epoch: u32) {
        self.inner().epoch = epoch;
    }

    /// The next call for `token` is never answered (the test kills the caller meanwhile); it
    /// takes effect if `takes_effect`. The receiver fires when it has arrived.
    pub fn pause_on(&self, token: &str, takes_effect: bool) -> oneshot::Receiver<()> {
        let (arrived, rx) = oneshot::channel();
        self.inner().pause = Some(Pause {
            token: token.to_string(),
            takes_effect,
            arrived,
        });
        rx
    }

    /// Switches the mode; going `Down` stops listening (connections are refused), leaving it
    /// listens again on the same port.
    pub async fn set_mode(&self, mode: Mode) {
        let mut server = self.server.lock().await;
        self.inner().mode = mode;
        let current = std::mem::replace(&mut *server, Server::Switching);
        *server = match (current, mode == Mode::Down) {
            (Server::Up { stop, task }, true) => {
                let _ = stop.send(());
                // Idle keep-alive connections are closed at once; give in-flight calls a
                // moment, then drop whatever is left.
                let abort = task.abort_handle();
                if tokio::time::timeout(Duration::from_secs(2), task)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
                Server::Down(reserve(Some(self.addr)))
            }
            (Server::Down(socket), false) => serve(socket, self.state.clone()),
            (same, _) => same,
        };
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner().calls.clone()
    }

    /// The calls for `token`, in arrival order.
    pub fn calls_for(&self, token: &str) -> Vec<Call> {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.token == token)
            .cloned()
            .collect()
    }

    /// How many calls for `token` took effect.
    pub fn taken(&self, token: &str) -> usize {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.token == token && c.took_effect)
            .count()
    }

    /// Per token, how many calls took effect (tokens with none are absent).
    pub fn taken_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for c in self.inner().calls.iter().filter(|c| c.took_effect) {
            *counts.entry(c.token.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// A loopback TCP socket bound (not listening) to `addr`, or to a free port.
fn reserve(addr: Option<SocketAddr>) -> TcpSocket {
    let addr = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        // Lets the port be bound again while old connections linger in TIME_WAIT.
        socket.set_reuseaddr(true).unwrap();
        match socket.bind(addr) {
            Ok(()) => return socket,
            Err(e) if Instant::now() < deadline => {
                eprintln!("fake Step Functions: cannot bind {addr} yet ({e}); retrying");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("fake Step Functions: cannot bind {addr}: {e}"),
        }
    }
}

fn serve(socket: TcpSocket, state: Arc<Mutex<Inner>>) -> Server {
    let listener = socket.listen(1024).unwrap();
    let app = Router::new().fallback(handle).with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Server::Up { stop, task }
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    h.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("00000000-fake-step-functions"),
    );
    res
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, json!({"__type": code, "message": message}))
}

async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let op = match target {
        "AWSStepFunctions.SendTaskSuccess" => Op::Success,
        "AWSStepFunctions.SendTaskFailure" => Op::Failure,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("the fake does not know `{other}`"),
            );
        }
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "not JSON",
        );
    };
    let token = body["taskToken"].as_str().unwrap_or_default().to_string();
    let payload = match op {
        Op::Success => body["output"].as_str().unwrap_or_default().to_string(),
        Op::Failure => body["error"].as_str().unwrap_or_default().to_string(),
    };
    let paused = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let already = st.calls.iter().any(|c| c.token == token && c.took_effect);
        let reused = already && st.reuse == Reuse::TaskTimedOut;
        let (status, took_effect) = match st.mode {
            // `Down` cannot be reached; a call that was already on its way is accepted.
            Mode::Accept | Mode::Down if reused => (StatusCode::BAD_REQUEST, false),
            Mode::Accept | Mode::Down => (StatusCode::OK, true),
            Mode::Fail5xx => (StatusCode::INTERNAL_SERVER_ERROR, false),
            Mode::DeadToken => (StatusCode::BAD_REQUEST, false),
            Mode::LostAnswer if reused => (StatusCode::BAD_REQUEST, false),
            Mode::LostAnswer => (StatusCode::INTERNAL_SERVER_ERROR, true),
        };
        let pause = match st.pause.take() {
            Some(p) if p.token == token => Some(p),
            other => {
                st.pause = other;
                None
            }
        };
        let epoch = st.epoch;
        st.calls.push(Call {
            op,
            token: token.clone(),
            payload,
            status: if pause.is_some() { 0 } else { status.as_u16() },
            took_effect: match &pause {
                Some(p) => p.takes_effect,
                None => took_effect,
            },
            epoch,
            at: Instant::now(),
        });
        match pause {
            Some(p) => Err(p.arrived),
            None => Ok(status),
        }
    };
    match paused {
        Ok(StatusCode::OK) => answer(StatusCode::OK, json!({})),
        Ok(StatusCode::INTERNAL_SERVER_ERROR) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceUnavailable",
            "the fake is failing on purpose",
        ),
        Ok(status) => error(
            status,
            "TaskTimedOut",
            "Task Timed Out: 'Provided task does not exist anymore'",
        ),
        Err(tx) => {
            let _ = tx.send(());
            // Never answered: the test kills the caller meanwhile.
            tokio::time::sleep(Duration::from_secs(60)).await;
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceUnavailable",
                "paused",
            )
        }
    }
}
