//! The agent: its state ([`state`]), its state machine ([`core`]), the
//! JSON it serves ([`json`], [`monitor`]), and the tokio runtime that connects the
//! machine to the network and to executor processes ([`runtime`]).

pub mod api;
pub mod core;
pub mod gc;
pub mod json;
pub mod metrics;
pub mod monitor;
pub mod runtime;
pub mod state;
