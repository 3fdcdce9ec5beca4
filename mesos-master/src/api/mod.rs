//! The master's HTTP endpoints: the v1 scheduler API and the JSON
//! endpoints operators and the WebUI read.

mod scheduler;
pub mod state;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use mesos::process::{Body, HttpHandler, ResponseFuture, respond};

use crate::runtime::MasterHandle;

/// Mesos endpoints this master does not serve yet: answered `501`, so a
/// client can tell "missing" from "wrong path".
const NOT_IMPLEMENTED: &[&str] = &[
    "/api/v1",
    "/roles",
    "/weights",
    "/quota",
    "/reserve",
    "/unreserve",
    "/create-volumes",
    "/destroy-volumes",
    "/teardown",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
];

/// Routes requests for process `master` (and, as its delegate, unprefixed
/// paths).
pub struct Api {
    master: MasterHandle,
}

impl Api {
    /// Serves `master`.
    pub fn new(master: MasterHandle) -> Api {
        Api { master }
    }
}

impl HttpHandler for Api {
    fn handle(&self, request: Request<Incoming>, path: String) -> ResponseFuture {
        let master = self.master.clone();
        Box::pin(async move { route(master, request, path).await })
    }
}

async fn route(master: MasterHandle, request: Request<Incoming>, path: String) -> Response<Body> {
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    if path == "/api/v1/scheduler" {
        return scheduler::handle(master, request).await;
    }
    // An endpoint the master does not have is not found, whatever the
    // method (as libprocess answers a path no process routes).
    const SERVED: &[&str] = &[
        "/health",
        "/version",
        "/flags",
        "/state",
        "/state.json",
        "/frameworks",
        "/slaves",
        "/tasks",
        "/state-summary",
    ];
    if !SERVED.contains(&path)
        && !NOT_IMPLEMENTED.contains(&path)
        && !path.starts_with("/maintenance/")
    {
        return respond(StatusCode::NOT_FOUND, "");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Expecting a 'GET' request, received '{}'", request.method()),
        );
    }
    let query = request.uri().query().unwrap_or("").to_string();
    match path {
        "/health" => respond(StatusCode::OK, ""),
        "/redirect" => {
            let url = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let id = master.pid.id.clone();
            match master.read(|m| m.info()).await {
                Some(info) => crate::ha::redirect(&info, &id, &url),
                None => unavailable(),
            }
        }
        "/version" => json(&state::version(), &query),
        "/flags" => json(&state::flags(&master.flags), &query),
        "/state" | "/state.json" => {
            let flags = master.flags.clone();
            match master.read(move |m| state::state(m, &flags)).await {
                Some(value) => json(&value, &query),
                None => unavailable(),
            }
        }
        "/frameworks" => match master.read(state::frameworks).await {
            Some(value) => json(&value, &query),
            None => unavailable(),
        },
        "/slaves" => match master.read(state::slaves).await {
            Some(value) => json(&value, &query),
            None => unavailable(),
        },
        "/tasks" => {
            let params = query.clone();
            match master.read(move |m| state::tasks(m, &params)).await {
                Some(value) => json(&value, &query),
                None => unavailable(),
            }
        }
        "/state-summary" => match master.read(state::summary).await {
            Some(value) => json(&value, &query),
            None => unavailable(),
        },
        other if NOT_IMPLEMENTED.contains(&other) || other.starts_with("/maintenance/") => respond(
            StatusCode::NOT_IMPLEMENTED,
            &format!("The '{other}' endpoint is not implemented by this master yet"),
        ),
        _ => respond(StatusCode::NOT_FOUND, ""),
    }
}

fn unavailable() -> Response<Body> {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        "The master is shutting down",
    )
}

/// A JSON response; `?jsonp=callback` wraps it as Mesos does for the WebUI.
pub(crate) fn json(value: &serde_json::Value, query: &str) -> Response<Body> {
    let text = value.to_string();
    let callback = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("jsonp="))
        .filter(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
        });
    let (body, content_type) = match callback {
        Some(callback) => (format!("{callback}({text});"), "text/javascript"),
        None => (text, "application/json"),
    };
    let mut response = Response::new(Body::full(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
