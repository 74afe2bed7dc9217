//! `tracepipe topics`: flags, then [`tracepipe::kafka::describe_partitions`].

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use tracepipe::config::{FileConfig, KafkaFlags, KafkaSettings};
use tracepipe::kafka::describe_partitions;

#[derive(Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    kafka: KafkaFlags,
    /// YAML config file (accepts the original config.yaml).
    #[arg(long, env = "TRACEPIPE_CONFIG")]
    config: Option<PathBuf>,
    /// Only these topics (repeatable) [default: every topic but the internal ones].
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Only the partitions missing a replica from their in-sync set.
    #[arg(long)]
    under_replicated: bool,
}

/// One line per partition, in the layout of Kafka's `kafka-topics.sh --describe`, so scripts
/// written for that tool read it too.
pub fn run(a: TopicsArgs) -> Result<i32> {
    let file = match &a.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let kafka = KafkaSettings::resolve(&file.kafka, &a.kafka)?;
    let ids = |v: &[i32]| {
        v.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    for p in describe_partitions(&kafka, &a.topics)? {
        if a.under_replicated && !p.under_replicated() {
            continue;
        }
        let leader = p.leader.map_or("none".to_owned(), |l| l.to_string());
        println!(
            "\tTopic: {}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
            p.topic,
            p.partition,
            ids(&p.replicas),
            ids(&p.isr)
        );
    }
    Ok(0)
}
