//! The agent's runtime: one tokio task that feeds the [`AgentCore`] from
//! its libprocess mailbox, its HTTP endpoints, executor exits and timers,
//! and carries out the [`Effect`]s it returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use mesos::process::{self, Body, BodySender, Event, HttpHandler, ResponseFuture, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos::v1::executor as v1e;
use mesos::wire::{json as mjson, recordio};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::core::{AgentCore, CallError, Effect};
use super::json;
use super::state::ConnId;
use crate::config::AgentConfig;
use crate::containerizer::{Container, ContainerExit, docker, posix};
use crate::paths;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The largest executor call body accepted.
const MAX_CALL_BODY: usize = 16 * 1024 * 1024;

/// How long [`Agent::shutdown`] waits for executors before killing them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The encoding of an executor's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// What the HTTP side and the executor watchers tell the agent task.
enum Input {
    ExecutorCall {
        call: Box<v1e::Call>,
        stream: Option<(BodySender, Encoding)>,
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    State(oneshot::Sender<serde_json::Value>),
    Flags(oneshot::Sender<serde_json::Value>),
    StreamClosed(ConnId),
    Exited {
        container_id: String,
        exit: ContainerExit,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A running agent.
pub struct Agent {
    pid: Upid,
    inputs: mpsc::UnboundedSender<Input>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts an agent as process `process_id` (`slave(1)`, `slave(2)`,
    /// ...) on `transport`: it serves its endpoints under `/<process_id>/`
    /// (and unprefixed, when `delegate` is set) and registers with the
    /// configured master. Must be called within a tokio runtime.
    pub fn start(
        config: AgentConfig,
        transport: Transport,
        process_id: &str,
        delegate: bool,
    ) -> Agent {
        let pid = transport.upid(process_id);
        let mailbox = transport.spawn(process_id);
        let (inputs, input_rx) = mpsc::unbounded_channel();
        transport.route(
            process_id,
            Arc::new(AgentHttp {
                inputs: inputs.clone(),
            }),
        );
        if delegate {
            transport.delegate(process_id);
        }
        let start_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut core = AgentCore::new(config, pid.clone(), start_time);
        core.start(Instant::now().into_std());
        let runtime = Runtime {
            core,
            transport,
            pid: pid.clone(),
            inputs: inputs.clone(),
            streams: HashMap::new(),
            next_conn: 1,
            containers: HashMap::new(),
            terminated: false,
        };
        let task = tokio::spawn(runtime.run(mailbox, input_rx));
        Agent { pid, inputs, task }
    }

    /// The agent's UPID.
    pub fn pid(&self) -> &Upid {
        &self.pid
    }

    /// Stops the agent: executors are asked to shut down, then killed.
    pub async fn shutdown(self) {
        let (reply, done) = oneshot::channel();
        if self.inputs.send(Input::Shutdown(reply)).is_ok() {
            let _ = done.await;
        }
        let _ = self.task.await;
    }

    /// Waits until the agent stops on its own (the master told it to).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

struct Runtime {
    core: AgentCore,
    transport: Transport,
    pid: Upid,
    inputs: mpsc::UnboundedSender<Input>,
    /// Open executor event streams.
    streams: HashMap<ConnId, (BodySender, Encoding)>,
    next_conn: ConnId,
    /// Running executor processes: container id -> session id.
    containers: HashMap<String, u32>,
    terminated: bool,
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl Runtime {
    async fn run(
        mut self,
        mut mailbox: mpsc::UnboundedReceiver<Event>,
        mut inputs: mpsc::UnboundedReceiver<Input>,
    ) {
        let mut shutdown_reply = None;
        loop {
            self.apply();
            if self.terminated {
                break;
            }
            let deadline = self.core.next_deadline();
            tokio::select! {
                event = mailbox.recv() => match event {
                    Some(Event::Message(m)) => {
                        let now = Instant::now().into_std();
                        self.core.message(&m.from, &m.name, &m.body, now);
                    }
                    Some(Event::Exited(pid)) => self.core.exited(&pid),
                    None => break,
                },
                input = inputs.recv() => match input {
                    Some(Input::Shutdown(reply)) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(input) => self.input(input),
                    None => break,
                },
                () = sleep_until(deadline) => self.core.tick(Instant::now().into_std()),
            }
        }
        self.stop(&mut inputs).await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now().into_std();
        match input {
            Input::ExecutorCall {
                call,
                stream,
                reply,
            } => {
                let conn = stream.map(|(sender, encoding)| {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    let watcher = sender.clone();
                    let inputs = self.inputs.clone();
                    tokio::spawn(async move {
                        watcher.closed().await;
                        let _ = inputs.send(Input::StreamClosed(conn));
                    });
                    self.streams.insert(conn, (sender, encoding));
                    conn
                });
                let result = self.core.executor_call(*call, conn, now);
                if result.is_err() {
                    if let Some(conn) = conn {
                        self.streams.remove(&conn);
                    }
                }
                let _ = reply.send(result);
            }
            Input::State(reply) => {
                let _ = reply.send(json::state(&self.core));
            }
            Input::Flags(reply) => {
                let _ = reply.send(json::flags(&self.core));
            }
            Input::StreamClosed(conn) => {
                if self.streams.remove(&conn).is_some() {
                    self.core.executor_disconnected(conn, now);
                }
            }
            Input::Exited { container_id, exit } => {
                self.containers.remove(&container_id);
                self.core
                    .executor_exited(&container_id, exit.status, &exit.message, now);
            }
            Input::Shutdown(_) => {}
        }
    }

    /// Carries out the core's effects.
    fn apply(&mut self) {
        for effect in self.core.drain() {
            match effect {
                Effect::Send { to, name, body } => self.transport.send(&self.pid, &to, &name, body),
                Effect::Link(to) => self.transport.link(&self.pid, &to),
                Effect::Launch(spec) => {
                    let launched = paths::create_sandbox(&spec.sandbox)
                        .and_then(|()| Container::launch(&spec));
                    match launched {
                        Ok(container) => {
                            self.containers
                                .insert(spec.container_id.clone(), container.pid());
                            let inputs = self.inputs.clone();
                            let container_id = spec.container_id.clone();
                            let docker = docker::launched_container(&spec)
                                .zip(self.core.config.docker.clone());
                            tokio::spawn(async move {
                                let exit = container.wait().await;
                                if let Some((name, config)) = &docker {
                                    docker::stop(config, name).await;
                                }
                                let _ = inputs.send(Input::Exited { container_id, exit });
                                if let Some((name, config)) = docker {
                                    docker::remove_later(config, name).await;
                                }
                            });
                        }
                        Err(e) => {
                            tracing::error!(
                                container_id = spec.container_id,
                                "Failed to launch executor: {e}"
                            );
                            let _ = self.inputs.send(Input::Exited {
                                container_id: spec.container_id,
                                exit: ContainerExit {
                                    status: None,
                                    message: format!("failed to launch: {e}"),
                                },
                            });
                        }
                    }
                }
                Effect::Destroy { container_id } => {
                    if let Some(&pid) = self.containers.get(&container_id) {
                        tracing::info!(container_id, "Destroying container");
                        posix::kill_session(pid, libc::SIGKILL);
                    }
                }
                Effect::ToExecutor { conn, event } => {
                    if let Some((sender, encoding)) = self.streams.get(&conn) {
                        let record = match encoding {
                            Encoding::Protobuf => event.encode_to_vec(),
                            Encoding::Json => mjson::to_json_string(&event).into_bytes(),
                        };
                        sender.send(Bytes::from(recordio::encode(&record)));
                    }
                }
                Effect::CloseExecutor { conn } => {
                    self.streams.remove(&conn);
                }
                Effect::Terminate => self.terminated = true,
            }
        }
    }

    /// Shuts down every executor, waiting for them a while, then kills
    /// what is left.
    async fn stop(&mut self, inputs: &mut mpsc::UnboundedReceiver<Input>) {
        self.core.shutdown(Instant::now().into_std());
        self.apply();
        let give_up = Instant::now() + SHUTDOWN_WAIT;
        while !self.containers.is_empty() {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input @ Input::Exited { .. }) => self.input(input),
                    Some(_) => {}
                    None => break,
                },
                () = tokio::time::sleep_until(give_up) => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    self.core.tick(Instant::now().into_std());
                }
            }
            self.apply();
        }
        for (container_id, pid) in self.containers.drain() {
            tracing::info!(container_id, "Killing executor at shutdown");
            posix::kill_session(pid, libc::SIGKILL);
        }
        self.transport.terminate(&self.pid.id);
    }
}

/// The agent's HTTP endpoints.
struct AgentHttp {
    inputs: mpsc::UnboundedSender<Input>,
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    process::respond(status, body)
}

fn json_response(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::full(value.to_string()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(JSON));
    response
}

/// Whether `accept` admits `media` (no header admits everything).
fn accepts(accept: Option<&str>, media: &str) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    accept.split(',').any(|part| {
        let range = part.split(';').next().unwrap_or("").trim();
        range == media || range == "*/*" || range == format!("{kind}/*")
    })
}

impl AgentHttp {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Input) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(make(reply)).ok()?;
        answer.await.ok()
    }

    async fn executor_api(&self, request: http::Request<hyper::body::Incoming>) -> Response<Body> {
        if request.method() != Method::POST {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "Expecting one of {{ 'POST' }}, but received '{}'",
                    request.method()
                ),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return response;
        }
        let header_of = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let Some(content_type) = header_of(header::CONTENT_TYPE) else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            );
        };
        let accept = header_of(header::ACCEPT);
        let content_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if content_type != PROTOBUF && content_type != JSON {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
            );
        }
        let body = match process::read_body(request.into_body(), MAX_CALL_BODY).await {
            Ok(body) => body,
            Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let call: v1e::Call = if content_type == PROTOBUF {
            match mesos::wire::decode_checked::<v1e::Call>(body.as_ref()) {
                Ok(call) => call,
                Err(_) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "Failed to parse body into Call protobuf",
                    );
                }
            }
        } else {
            match mjson::from_json_slice(&body) {
                Ok(call) => call,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to convert JSON into Call protobuf: {e}"),
                    );
                }
            }
        };
        let subscribe = call.r#type == Some(v1e::call::Type::Subscribe as i32);
        if !subscribe {
            return match self
                .ask(|reply| Input::ExecutorCall {
                    call: Box::new(call),
                    stream: None,
                    reply,
                })
                .await
            {
                Some(Ok(())) => text(StatusCode::ACCEPTED, ""),
                Some(Err(e)) => text(e.status, &e.message),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            };
        }
        let encoding = if accepts(accept.as_deref(), JSON) {
            Encoding::Json
        } else if accepts(accept.as_deref(), PROTOBUF) {
            Encoding::Protobuf
        } else {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                &format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
            );
        };
        let (sender, stream_body) = Body::channel();
        match self
            .ask(|reply| Input::ExecutorCall {
                call: Box::new(call),
                stream: Some((sender, encoding)),
                reply,
            })
            .await
        {
            Some(Ok(())) => {
                let mut response = Response::new(stream_body);
                let media = if encoding == Encoding::Json {
                    JSON
                } else {
                    PROTOBUF
                };
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(media),
                );
                response
            }
            Some(Err(e)) => text(e.status, &e.message),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
        }
    }

    async fn serve(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> Response<Body> {
        let path = path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_string();
        match path.as_str() {
            "/api/v1/executor" => self.executor_api(request).await,
            "/state" | "/state.json" => match self.ask(Input::State).await {
                Some(state) => json_response(&state),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            },
            "/flags" => match self.ask(Input::Flags).await {
                Some(flags) => json_response(&flags),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            },
            "/health" => text(StatusCode::OK, ""),
            "/version" => json_response(&json::version()),
            _ => text(
                StatusCode::NOT_IMPLEMENTED,
                &format!("The endpoint '{path}' is not implemented by this agent"),
            ),
        }
    }
}

impl HttpHandler for AgentHttp {
    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> ResponseFuture {
        let this = AgentHttp {
            inputs: self.inputs.clone(),
        };
        Box::pin(async move { this.serve(request, path).await })
    }
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_header_matching() {
        assert!(accepts(None, "application/json"));
        assert!(accepts(Some("*/*"), "application/json"));
        assert!(accepts(Some("application/*"), "application/x-protobuf"));
        assert!(accepts(
            Some("application/x-protobuf"),
            "application/x-protobuf"
        ));
        assert!(!accepts(Some("application/x-protobuf"), "application/json"));
        assert!(accepts(
            Some("text/html, application/json;q=0.9"),
            "application/json"
        ));
    }
}
