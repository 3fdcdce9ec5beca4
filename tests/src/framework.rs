//! A scripted v1 HTTP framework (protobuf) for the tests that need to
//! send calls a well-behaved client would not: accepting an offer that
//! is gone, or someone else's.

use std::net::SocketAddr;
use std::time::Duration;

use mesos::http_scheduler::{self, Events, Scheduler};
use mesos::wire::mesos::v1::scheduler::{Call, Event, call, event};
use mesos::wire::mesos::v1::{self, framework_info::capability::Type as Capability};

/// How long to wait for one expected event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A subscribed framework and its event stream.
pub struct Framework {
    /// Sends calls (with the stream id).
    pub scheduler: Scheduler,
    /// The event stream.
    pub events: Events,
    /// The id the master gave it.
    pub id: v1::FrameworkId,
}

/// The type of an event.
pub fn event_type(event: &Event) -> event::Type {
    event
        .r#type
        .and_then(|t| event::Type::try_from(t).ok())
        .unwrap_or(event::Type::Unknown)
}

/// A `SUBSCRIBE` for a framework called `name` with `capabilities`.
pub fn subscribe_call(name: &str, capabilities: &[Capability]) -> Call {
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: crate::current_user(),
                name: name.to_string(),
                capabilities: capabilities
                    .iter()
                    .map(|c| v1::framework_info::Capability {
                        r#type: Some(*c as i32),
                    })
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A scalar resource, unreserved, for a framework without `MULTI_ROLE`.
pub fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.to_string(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

/// A shell command task `id` on `agent` using 0.1 cpus and 32 MB.
pub fn task(id: &str, agent: &v1::AgentId, command: &str) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.to_string(),
        task_id: v1::TaskId {
            value: id.to_string(),
        },
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(v1::CommandInfo {
            shell: Some(true),
            value: Some(command.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Framework {
    /// Subscribes as `name` and waits for `SUBSCRIBED`.
    ///
    /// # Panics
    /// When the master refuses or says nothing within [`EVENT_TIMEOUT`].
    pub async fn subscribe(master: SocketAddr, name: &str, capabilities: &[Capability]) -> Self {
        let (scheduler, mut events) =
            http_scheduler::subscribe(master, &subscribe_call(name, capabilities))
                .await
                .unwrap_or_else(|e| panic!("{name}: subscribe: {e}"));
        let subscribed = next_matching(&mut events, name, "SUBSCRIBED", |e| {
            event_type(e) == event::Type::Subscribed
        })
        .await;
        let id = subscribed
            .subscribed
            .expect("SUBSCRIBED carries `subscribed`")
            .framework_id;
        Framework {
            scheduler,
            events,
            id,
        }
    }

    /// The next event for which `accept` holds, skipping heartbeats and
    /// others; `what` names it in the panic on timeout.
    pub async fn next(&mut self, what: &str, accept: impl FnMut(&Event) -> bool) -> Event {
        let name = format!("framework {}", self.id.value);
        next_matching(&mut self.events, &name, what, accept).await
    }

    /// The next `OFFERS` event's offers.
    pub async fn offers(&mut self) -> Vec<v1::Offer> {
        self.next("OFFERS", |e| event_type(e) == event::Type::Offers)
            .await
            .offers
            .expect("OFFERS carries `offers`")
            .offers
    }

    /// The next status update of `task`, acknowledged if it carries a uuid.
    pub async fn update_of(&mut self, task: &str) -> v1::TaskStatus {
        let event = self
            .next(&format!("UPDATE of {task}"), |e| {
                e.update
                    .as_ref()
                    .is_some_and(|u| u.status.task_id.value == task)
            })
            .await;
        let status = event.update.expect("matched above").status;
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            self.call(Call {
                r#type: Some(call::Type::Acknowledge as i32),
                acknowledge: Some(call::Acknowledge {
                    agent_id: agent.clone(),
                    task_id: status.task_id.clone(),
                    uuid: uuid.clone(),
                }),
                ..Default::default()
            })
            .await;
        }
        status
    }

    /// Sends `call` with this framework's id; panics unless it is accepted.
    pub async fn call(&self, mut call: Call) {
        call.framework_id = Some(self.id.clone());
        let call_type = call.r#type;
        self.scheduler
            .call(&call)
            .await
            .unwrap_or_else(|e| panic!("call {call_type:?} refused: {e}"));
    }

    /// `ACCEPT`s `offer` with one `LAUNCH` of `tasks`.
    pub async fn launch(&self, offer: &v1::OfferId, tasks: Vec<v1::TaskInfo>) {
        self.call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![offer.clone()],
                operations: vec![v1::offer::Operation {
                    r#type: Some(v1::offer::operation::Type::Launch as i32),
                    launch: Some(v1::offer::operation::Launch { task_infos: tasks }),
                    ..Default::default()
                }],
                filters: None,
            }),
            ..Default::default()
        })
        .await
    }

    /// `DECLINE`s `offer` (with Mesos's default filter).
    pub async fn decline(&self, offer: &v1::OfferId) {
        self.call(Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![offer.clone()],
                filters: None,
            }),
            ..Default::default()
        })
        .await
    }
}

async fn next_matching(
    events: &mut Events,
    name: &str,
    what: &str,
    mut accept: impl FnMut(&Event) -> bool,
) -> Event {
    let wait = async {
        loop {
            match events.next().await {
                Some(Ok(event)) if accept(&event) => return event,
                Some(Ok(event)) if event_type(&event) == event::Type::Error => {
                    panic!("{name}: ERROR event while waiting for {what}: {event:?}")
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("{name}: event stream broke waiting for {what}: {e}"),
                None => panic!("{name}: the master closed the stream waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(EVENT_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("{name}: no {what} within {EVENT_TIMEOUT:?}"))
}

impl Framework {
    /// [`Framework::subscribe`] for a framework with `checkpoint=true`:
    /// its tasks survive a restart of their agent.
    ///
    /// # Panics
    /// When the master refuses or says nothing within [`EVENT_TIMEOUT`].
    pub async fn subscribe_checkpointing(master: SocketAddr, name: &str) -> Self {
        let mut call = subscribe_call(name, &[]);
        if let Some(subscribe) = call.subscribe.as_mut() {
            subscribe.framework_info.checkpoint = Some(true);
        }
        let (scheduler, mut events) = http_scheduler::subscribe(master, &call)
            .await
            .unwrap_or_else(|e| panic!("{name}: subscribe: {e}"));
        let subscribed = next_matching(&mut events, name, "SUBSCRIBED", |e| {
            event_type(e) == event::Type::Subscribed
        })
        .await;
        let id = subscribed
            .subscribed
            .expect("SUBSCRIBED carries `subscribed`")
            .framework_id;
        Framework {
            scheduler,
            events,
            id,
        }
    }
}
