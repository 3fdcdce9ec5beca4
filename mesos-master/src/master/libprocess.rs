//! Frameworks on libmesos's scheduler driver (Marathon, Aurora, ...): the
//! libprocess side of the scheduler protocol. Their messages become the
//! same calls HTTP frameworks make; the events for them become the
//! `mesos.internal.*Message`s the driver waits for.

use bytes::Bytes;
use mesos::ids::{AgentId, FrameworkId};
use mesos::upid::Upid;
use mesos::wire::decode_checked;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::scheduler::{self, call, event};
use prost_reflect::ReflectMessage;

use super::{CallError, Effect, FrameworkLink, Master, Now};

/// The scheduler messages a master takes over libprocess.
pub(super) const SCHEDULER_MESSAGES: &[&str] = &[
    "mesos.scheduler.Call",
    "mesos.internal.RegisterFrameworkMessage",
    "mesos.internal.ReregisterFrameworkMessage",
    "mesos.internal.UnregisterFrameworkMessage",
    "mesos.internal.DeactivateFrameworkMessage",
    "mesos.internal.LaunchTasksMessage",
    "mesos.internal.KillTaskMessage",
    "mesos.internal.ReviveOffersMessage",
    "mesos.internal.StatusUpdateAcknowledgementMessage",
    "mesos.internal.ReconcileTasksMessage",
    "mesos.internal.FrameworkToExecutorMessage",
    "mesos.internal.ResourceRequestMessage",
];

fn call_of(framework_id: &v0::FrameworkId, call_type: call::Type) -> scheduler::Call {
    scheduler::Call {
        framework_id: Some(framework_id.clone()),
        r#type: Some(call_type as i32),
        ..Default::default()
    }
}

/// Turns a pre-1.0 driver message into the call it stands for.
fn legacy_call(name: &str, body: &[u8]) -> Result<scheduler::Call, String> {
    let bad = |e: mesos::wire::DecodeError| e.to_string();
    Ok(match name {
        "mesos.internal.RegisterFrameworkMessage" => {
            let m: internal::RegisterFrameworkMessage = decode_checked(body).map_err(bad)?;
            scheduler::Call {
                r#type: Some(call::Type::Subscribe as i32),
                subscribe: Some(call::Subscribe {
                    framework_info: m.framework,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        "mesos.internal.ReregisterFrameworkMessage" => {
            let m: internal::ReregisterFrameworkMessage = decode_checked(body).map_err(bad)?;
            scheduler::Call {
                framework_id: m.framework.id.clone(),
                r#type: Some(call::Type::Subscribe as i32),
                subscribe: Some(call::Subscribe {
                    framework_info: m.framework,
                    force: Some(m.failover),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        "mesos.internal.UnregisterFrameworkMessage" => {
            let m: internal::UnregisterFrameworkMessage = decode_checked(body).map_err(bad)?;
            call_of(&m.framework_id, call::Type::Teardown)
        }
        "mesos.internal.LaunchTasksMessage" => {
            let m: internal::LaunchTasksMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Accept);
            call.accept = Some(call::Accept {
                offer_ids: m.offer_ids,
                operations: vec![v0::offer::Operation {
                    r#type: Some(v0::offer::operation::Type::Launch as i32),
                    launch: Some(v0::offer::operation::Launch {
                        task_infos: m.tasks,
                    }),
                    ..Default::default()
                }],
                filters: Some(m.filters),
            });
            call
        }
        "mesos.internal.KillTaskMessage" => {
            let m: internal::KillTaskMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Kill);
            call.kill = Some(call::Kill {
                task_id: m.task_id,
                slave_id: None,
                kill_policy: m.kill_policy,
            });
            call
        }
        "mesos.internal.ReviveOffersMessage" => {
            let m: internal::ReviveOffersMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Revive);
            call.revive = Some(call::Revive { roles: m.roles });
            call
        }
        "mesos.internal.StatusUpdateAcknowledgementMessage" => {
            let m: internal::StatusUpdateAcknowledgementMessage =
                decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Acknowledge);
            call.acknowledge = Some(call::Acknowledge {
                slave_id: m.slave_id,
                task_id: m.task_id,
                uuid: m.uuid,
            });
            call
        }
        "mesos.internal.ReconcileTasksMessage" => {
            let m: internal::ReconcileTasksMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Reconcile);
            call.reconcile = Some(call::Reconcile {
                tasks: m
                    .statuses
                    .into_iter()
                    .map(|s| call::reconcile::Task {
                        task_id: s.task_id,
                        slave_id: s.slave_id,
                    })
                    .collect(),
            });
            call
        }
        "mesos.internal.FrameworkToExecutorMessage" => {
            let m: internal::FrameworkToExecutorMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Message);
            call.message = Some(call::Message {
                slave_id: m.slave_id,
                executor_id: m.executor_id,
                data: m.data,
            });
            call
        }
        "mesos.internal.ResourceRequestMessage" => {
            let m: internal::ResourceRequestMessage = decode_checked(body).map_err(bad)?;
            let mut call = call_of(&m.framework_id, call::Type::Request);
            call.request = Some(call::Request {
                requests: m.requests,
            });
            call
        }
        other => return Err(format!("'{other}' is not a scheduler message")),
    })
}

impl Master {
    /// A scheduler message from a libmesos driver at `from`.
    pub(super) fn scheduler_message(&mut self, from: &Upid, name: &str, body: &[u8], now: Now) {
        let link = FrameworkLink::Libprocess { pid: from.clone() };
        if name == "mesos.internal.DeactivateFrameworkMessage" {
            self.metrics.bump("messages_deactivate_framework");
            match decode_checked::<internal::DeactivateFrameworkMessage>(body) {
                Ok(m) => {
                    let id = FrameworkId::from(&m.framework_id);
                    if self
                        .frameworks
                        .get(&id)
                        .is_some_and(|f| f.link.as_ref() == Some(&link))
                    {
                        self.deactivate_framework(&id, now);
                    } else {
                        tracing::warn!(
                            framework_id = %id,
                            "Ignoring deactivation from {from}: not the framework's connected scheduler"
                        );
                    }
                }
                Err(error) => self.drop_invalid(from, name, &error.to_string()),
            }
            return;
        }
        let call = if name == "mesos.scheduler.Call" {
            decode_checked::<scheduler::Call>(body).map_err(|e| e.to_string())
        } else {
            legacy_call(name, body)
        };
        let call = match call {
            Ok(call) => call,
            Err(error) => return self.drop_invalid(from, name, &error),
        };
        if call.r#type == Some(call::Type::Subscribe as i32) {
            if self.driver_subscription_handled(from, &call) {
                return;
            }
            if let Err(error) = self.subscribe(&call, link, now) {
                tracing::warn!("Refusing subscription from {from}: {error}");
                self.send_framework_error(from, &error.to_string());
            }
            return;
        }
        let id = call.framework_id.as_ref().map(FrameworkId::from);
        match self.call(call, &link, now) {
            Ok(()) => {}
            Err(CallError::NotSubscribed)
                if id
                    .and_then(|id| self.frameworks.get(&id))
                    .is_some_and(|f| f.pid.as_ref() == Some(from)) =>
            {
                // Its driver believes it is connected (a broken link goes
                // unnoticed at the driver's end) and would wait for offers
                // forever: make it abort, so that the scheduler starts over.
                tracing::info!("Refusing call from {from}: Framework disconnected");
                self.send_framework_error(from, "Framework disconnected");
            }
            Err(error) => tracing::warn!("Dropping call from {from}: {error}"),
        }
    }

    /// What Mesos checks of a driver's `SUBSCRIBE` before subscribing it:
    /// whether it is a retry, comes from a pid another framework has, or
    /// tries to take a framework over without `force`. Returns whether it
    /// was handled (answered or dropped) here.
    fn driver_subscription_handled(&mut self, from: &Upid, call: &scheduler::Call) -> bool {
        let Some(subscribe) = &call.subscribe else {
            return false;
        };
        let requested = call
            .framework_id
            .as_ref()
            .or(subscribe.framework_info.id.as_ref())
            .filter(|id| !id.value.is_empty())
            .map(FrameworkId::from);
        let at_pid = self
            .frameworks
            .values()
            .find(|f| f.pid.as_ref() == Some(from))
            .map(|f| f.id.clone());
        let Some(requested) = requested else {
            // The driver resends SUBSCRIBE until it hears back: a retry
            // gets the registration again, not another framework.
            if let Some(id) = at_pid {
                tracing::info!(framework_id = %id, "Framework already subscribed from {from}, resending acknowledgement");
                let message = internal::FrameworkRegisteredMessage {
                    framework_id: id.to_v0(),
                    master_info: self.info(),
                };
                self.send_message(from, &message);
                return true;
            }
            return false;
        };
        if let Some(other) = at_pid.filter(|other| other != &requested) {
            // An error would reach the framework already there: drop it.
            tracing::error!(
                framework_id = %requested,
                "Dropping SUBSCRIBE call: framework {other} is already at {from}"
            );
            return true;
        }
        let Some(framework) = self.frameworks.get(&requested) else {
            return false;
        };
        // A scheduler that was partitioned away and comes back after
        // another instance took over must not steal the framework: only a
        // failover (`force`) may move it to a new pid.
        if !framework.recovered
            && framework.pid.as_ref() != Some(from)
            && !subscribe.force.unwrap_or(false)
        {
            tracing::error!(
                framework_id = %requested,
                "Disallowing subscription attempt from {from}: not forced, and the framework is elsewhere"
            );
            self.send_framework_error(from, "Framework failed over");
            return true;
        }
        false
    }

    pub(super) fn send_framework_error(&mut self, to: &Upid, message: &str) {
        let message = internal::FrameworkErrorMessage {
            message: message.to_string(),
        };
        self.send_message(to, &message);
    }

    fn drop_invalid(&mut self, from: &Upid, name: &str, error: &str) {
        self.metrics.invalid_messages += 1;
        self.metrics.bump("dropped_messages");
        tracing::warn!("Dropping invalid '{name}' from {from}: {error}");
    }

    /// The driver's form of `event`, sent to `pid`.
    pub(super) fn send_driver_event(
        &mut self,
        pid: &Upid,
        framework_id: v0::FrameworkId,
        event: &scheduler::Event,
        reregistered: bool,
    ) {
        let Some((name, body)) = self.driver_message(framework_id, event, reregistered) else {
            return;
        };
        self.effects.push(Effect::Send {
            to: pid.clone(),
            name,
            body,
        });
    }

    fn driver_message(
        &self,
        framework_id: v0::FrameworkId,
        event: &scheduler::Event,
        reregistered: bool,
    ) -> Option<(String, Bytes)> {
        fn encode<M: prost::Message + ReflectMessage>(m: M) -> Option<(String, Bytes)> {
            Some((
                m.descriptor().full_name().to_string(),
                Bytes::from(m.encode_to_vec()),
            ))
        }
        let agent_pid = |id: Option<&v0::SlaveId>| {
            id.and_then(|id| self.agents.get(&AgentId::from(id)))
                .map(|agent| agent.pid.to_string())
        };
        match event.r#type.and_then(|t| event::Type::try_from(t).ok())? {
            event::Type::Subscribed => {
                let s = event.subscribed.clone()?;
                let master_info = s.master_info.unwrap_or_else(|| self.info());
                if reregistered {
                    encode(internal::FrameworkReregisteredMessage {
                        framework_id: s.framework_id,
                        master_info,
                    })
                } else {
                    encode(internal::FrameworkRegisteredMessage {
                        framework_id: s.framework_id,
                        master_info,
                    })
                }
            }
            event::Type::Offers => {
                let offers = event.offers.clone()?.offers;
                // The driver aborts unless there is one pid per offer.
                let pids = offers
                    .iter()
                    .map(|o| agent_pid(Some(&o.slave_id)).unwrap_or_default())
                    .collect();
                encode(internal::ResourceOffersMessage { offers, pids })
            }
            event::Type::Rescind => encode(internal::RescindResourceOfferMessage {
                offer_id: event.rescind.clone()?.offer_id,
            }),
            event::Type::Update => {
                let status = event.update.clone()?.status;
                // The driver acknowledges only updates with a uuid and a
                // sender pid; master-made ones have neither.
                let pid = match &status.uuid {
                    Some(_) => agent_pid(status.slave_id.as_ref()).unwrap_or_default(),
                    None => String::new(),
                };
                let update = internal::StatusUpdate {
                    framework_id,
                    executor_id: status.executor_id.clone(),
                    slave_id: status.slave_id.clone(),
                    timestamp: status.timestamp.unwrap_or_default(),
                    uuid: status.uuid.clone(),
                    latest_state: None,
                    status,
                };
                encode(internal::StatusUpdateMessage {
                    update,
                    pid: Some(pid),
                })
            }
            event::Type::Message => {
                let m = event.message.clone()?;
                encode(internal::ExecutorToFrameworkMessage {
                    slave_id: m.slave_id,
                    framework_id,
                    executor_id: m.executor_id,
                    data: m.data,
                })
            }
            event::Type::Failure => {
                let f = event.failure.clone()?;
                match (f.executor_id, f.slave_id) {
                    (Some(executor_id), Some(slave_id)) => {
                        encode(internal::ExitedExecutorMessage {
                            slave_id,
                            framework_id,
                            executor_id,
                            status: f.status.unwrap_or_default(),
                        })
                    }
                    (None, Some(slave_id)) => encode(internal::LostSlaveMessage { slave_id }),
                    _ => None,
                }
            }
            event::Type::Error => encode(internal::FrameworkErrorMessage {
                message: event.error.clone()?.message,
            }),
            _ => None,
        }
    }
}
