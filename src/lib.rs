//! tracepipe: replays the Google 2011 cluster trace through Kafka in exact global time order.
//!
//! The modules follow the data:
//! [`fetch`] (the trace over HTTP) -> [`trace`] (reading) -> [`merge`] (one ordered stream) -> [`wire`] (Kafka records) ->
//! [`replay`] (producing) -> [`consume`] (ordered consumption) -> [`window`] (per-machine
//! windows) -> [`metrics`] (Prometheus), and [`report`] draws the windows as an HTML page.
//! [`generate`] writes synthetic traces; [`config`] and [`kafka`] hold the settings and client
//! plumbing shared by the commands.

pub mod aggregate;
pub(crate) mod clock;
pub mod config;
pub mod consume;
pub mod duration;
pub mod fetch;
pub mod generate;
mod json_out;
pub mod kafka;
pub mod merge;
pub mod metrics;
pub mod replay;
pub mod report;
pub mod trace;
pub mod window;
pub mod wire;
