//! `tracepipe verify`: flags, then [`tracepipe::consume::verify::verify`].

use super::common::{Common, ReadArgs};
use anyhow::Result;
use clap::Args;
use std::time::Duration;
use tracepipe::consume::verify::{verify, VerifyOutcome};
use tracepipe::consume::OrderedConsumer;

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    read: ReadArgs,
}

/// Verify runs unattended (tests, CI): it fails rather than waits forever.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

pub fn run(a: VerifyArgs) -> Result<i32> {
    a.common.require_trace()?;
    let r = a.common.resolve()?;
    let files = r.source.open()?;
    let mut consumer = OrderedConsumer::new(a.read.options(&r, Some(DEFAULT_IDLE)))?;
    match verify(files, &mut consumer)? {
        VerifyOutcome::Ok { events } => {
            println!("OK: {events} events in exact global order");
            Ok(0)
        }
        VerifyOutcome::Diverged(d) => {
            println!("{d}");
            Ok(1)
        }
    }
}
