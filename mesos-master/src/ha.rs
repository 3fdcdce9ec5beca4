//! High availability: a master started with `--zk` contends for
//! leadership through ZooKeeper and, until elected, only redirects.
//!
//! ```text
//!   start ──► follower: contend, detect the leader,      ──Elected──► recover the registry ──► leader
//!             307 to it, drop libprocess messages                                             │
//!                                                                         lost leadership,    │
//!                                             exit (the supervisor restarts us) ◄── registry write failed
//! ```
//!
//! A master that has led never serves as a follower afterwards: as in
//! Mesos, it exits and its supervisor restarts it, so that no state of
//! its reign survives into the next one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use mesos::process::{Body, Event, HttpHandler, ResponseFuture, Transport, respond};
use mesos::wire::mesos::MasterInfo;
use mesos::zk::ZkUrl;
use mesos::zk::contender::{Contender, ContenderEvent};
use mesos::zk::detector::Detector;
use tokio::sync::watch;

use crate::master::{MasterConfig, master_info};
use crate::registry::{Store, zookeeper::ZkStore};
use crate::runtime::{self, Persistence};

/// How a master runs with `--zk`.
pub struct HaConfig {
    /// `--zk`.
    pub url: ZkUrl,
    /// `--zk_session_timeout`.
    pub session_timeout: Duration,
    /// The registry is kept in ZooKeeper (`--registry=replicated_log`),
    /// else in memory.
    pub persistent_registry: bool,
    /// How recovered agents, the removal limit and registry GC are
    /// handled.
    pub registry: crate::master::RegistryConfig,
    /// `--registry_fetch_timeout`.
    pub fetch_timeout: Duration,
    /// `--registry_store_timeout`.
    pub store_timeout: Duration,
    /// `--weights`.
    pub weights: Vec<(String, f64)>,
}

/// Runs a master with `--zk` until `terminate` resolves (`Ok`) or it can
/// no longer lead (`Err` with why: lost leadership, registry failure).
pub async fn run(
    config: MasterConfig,
    transport: Transport,
    flags: Vec<(String, String)>,
    ha: HaConfig,
    terminate: impl Future<Output = ()>,
) -> Result<(), String> {
    tokio::pin!(terminate);
    let info = master_info(&config);
    let data = mesos::wire::json::to_json_string(&info).into_bytes();
    let detector = Detector::start(ha.url.clone(), ha.session_timeout);
    let id = config.pid.id.clone();
    let mailbox = transport.spawn(&id);
    tokio::spawn(drop_messages(mailbox));
    transport.route(
        &id,
        Arc::new(Follower {
            leader: detector.subscribe(),
            own_id: info.id.clone(),
            process_id: id.clone(),
            flags: Arc::new(flags.clone()),
        }),
    );
    transport.delegate(&id);
    tracing::info!("Contending for leadership at {}", ha.url);
    let mut contender = Contender::start(ha.url.clone(), ha.session_timeout, data);
    tokio::select! {
        event = contender.events.recv() => match event {
            Some(ContenderEvent::Elected) => {}
            Some(ContenderEvent::Lost(reason)) => return Err(format!("Lost leadership: {reason}")),
            None => return Err("The contender stopped".into()),
        },
        () = &mut terminate => {
            contender.withdraw().await;
            return Ok(());
        }
    }
    let store = if ha.persistent_registry {
        Store::ZooKeeper(Box::new(ZkStore::new(ha.url.clone(), ha.session_timeout)))
    } else {
        Store::InMemory(None)
    };
    let location = store.location();
    let persistence = Persistence {
        store,
        config: ha.registry.clone(),
        fetch_timeout: ha.fetch_timeout,
        store_timeout: ha.store_timeout,
    };
    let started = tokio::select! {
        started = runtime::start_leading(config, transport, flags, persistence) => started,
        event = contender.events.recv() => {
            return Err(format!("Lost leadership while recovering: {event:?}"));
        }
    };
    let (handle, mut failure) = match started {
        Ok(started) => started,
        Err(error) => {
            contender.withdraw().await;
            return Err(format!(
                "Refusing to lead: failed to recover the registry from {location}: {error}; \
                 nothing was written, inspect or remove the registry by hand"
            ));
        }
    };
    if !ha.weights.is_empty() {
        handle.set_weights(ha.weights);
    }
    tracing::info!("Elected as the leading master; serving");
    let mut leader = detector.subscribe();
    let lost = async {
        loop {
            if leader.changed().await.is_err() {
                return std::future::pending().await;
            }
            let other = leader
                .borrow_and_update()
                .as_ref()
                .filter(|l| l.id != info.id)
                .cloned();
            if let Some(other) = other {
                return other;
            }
        }
    };
    tokio::select! {
        event = contender.events.recv() => {
            let reason = match event {
                Some(ContenderEvent::Lost(reason)) => reason,
                _ => "the contender stopped".into(),
            };
            Err(format!("Lost leadership ({reason})... committing suicide!"))
        }
        other = lost => Err(format!(
            "Another master ({}) leads now... committing suicide!",
            other.pid.as_deref().unwrap_or("?")
        )),
        failure = failure.recv() => Err(failure.map(|f| f.to_string()).unwrap_or_else(|| {
            "Registrar failed: the registrar stopped... committing suicide!".into()
        })),
        () = &mut terminate => {
            contender.withdraw().await;
            Ok(())
        }
    }
}

/// Messages reach a follower only by mistake (a peer that has not seen
/// the new leader yet): they are dropped, as Mesos does.
async fn drop_messages(mut mailbox: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = mailbox.recv().await {
        if let Event::Message(message) = event {
            tracing::info!(
                "Dropping '{}' message from {} since not elected yet",
                message.name,
                message.from
            );
        }
    }
}

/// The HTTP side of a master that does not lead.
struct Follower {
    leader: watch::Receiver<Option<MasterInfo>>,
    /// Our `MasterInfo.id`: once it leads, requests wait for recovery.
    own_id: String,
    process_id: String,
    flags: Arc<Vec<(String, String)>>,
}

impl HttpHandler for Follower {
    fn handle(&self, request: Request<Incoming>, path: String) -> ResponseFuture {
        let response = self.route(&request, &path);
        Box::pin(async move { response })
    }
}

impl Follower {
    fn route(&self, request: &Request<Incoming>, path: &str) -> Response<Body> {
        let path = path.trim_end_matches('/');
        match path {
            "/health" => return respond(StatusCode::OK, ""),
            "/version" => return crate::api::json(&crate::api::state::version(), ""),
            "/flags" => return crate::api::json(&crate::api::state::flags(&self.flags), ""),
            _ => {}
        }
        let Some(leader) = self.leader.borrow().clone() else {
            return respond(StatusCode::SERVICE_UNAVAILABLE, "No leader elected");
        };
        if leader.id == self.own_id {
            // Elected, still recovering the registry.
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "Master has not finished recovery",
            );
        }
        let url = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        redirect(&leader, &self.process_id, &url)
    }
}

/// Mesos's redirect to the leader: `//<hostname>:<port><url>`; the
/// `/redirect` endpoint itself goes to the leader's root.
pub fn redirect(leader: &MasterInfo, process_id: &str, url: &str) -> Response<Body> {
    let hostname = leader
        .hostname
        .clone()
        .or_else(|| leader.address.as_ref().and_then(|a| a.hostname.clone()))
        .unwrap_or_else(|| std::net::Ipv4Addr::from(leader.ip.to_le_bytes()).to_string());
    let base = format!("//{hostname}:{}", leader.port);
    let path = url.split('?').next().unwrap_or(url);
    let own = format!("/{process_id}/redirect");
    let location = if path == "/redirect" || path == own {
        base
    } else if path.starts_with("/redirect/") || path.starts_with(&format!("{own}/")) {
        return respond(StatusCode::NOT_FOUND, "");
    } else {
        format!("{base}{url}")
    };
    tracing::info!("Redirecting request for {url} to the leading master {hostname}");
    let mut response = respond(StatusCode::TEMPORARY_REDIRECT, "");
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader() -> MasterInfo {
        MasterInfo {
            id: "L".into(),
            ip: 16777343,
            port: 5050,
            hostname: Some("m1.example".into()),
            ..Default::default()
        }
    }

    fn location(url: &str) -> (StatusCode, Option<String>) {
        let response = redirect(&leader(), "master", url);
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), location)
    }

    #[test]
    fn redirects_as_mesos_does() {
        assert_eq!(
            location("/api/v1/scheduler"),
            (
                StatusCode::TEMPORARY_REDIRECT,
                Some("//m1.example:5050/api/v1/scheduler".into())
            )
        );
        assert_eq!(
            location("/master/state?jsonp=x"),
            (
                StatusCode::TEMPORARY_REDIRECT,
                Some("//m1.example:5050/master/state?jsonp=x".into())
            )
        );
        assert_eq!(
            location("/master/redirect"),
            (
                StatusCode::TEMPORARY_REDIRECT,
                Some("//m1.example:5050".into())
            )
        );
        assert_eq!(
            location("/redirect"),
            (
                StatusCode::TEMPORARY_REDIRECT,
                Some("//m1.example:5050".into())
            )
        );
        assert_eq!(location("/redirect/x"), (StatusCode::NOT_FOUND, None));
    }
}
