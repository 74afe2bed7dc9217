//! `tracepipe verify`: the ordered stream from Kafka must equal the merge of the files.

use super::{ConsumeError, OrderedConsumer, OrderedEvent};
use crate::merge::TraceStream;
use crate::trace::{Event, TraceError};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Consume(#[from] ConsumeError),
}

/// The first place where Kafka and the files disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// 0-based position in the ordered stream.
    pub position: u64,
    pub expected: String,
    pub got: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "DIVERGENCE at position {}", self.position)?;
        writeln!(f, "  expected: {}", self.expected)?;
        write!(f, "  got:      {}", self.got)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum VerifyOutcome {
    Ok { events: u64 },
    Diverged(Divergence),
}

fn describe_expected(e: &Event) -> String {
    let mut v = Vec::new();
    crate::wire::encode_record(&e.record, &mut v);
    format!(
        "seq {} {} event {}",
        e.seq,
        e.record.table(),
        String::from_utf8_lossy(&v)
    )
}

fn describe_got(e: &OrderedEvent) -> String {
    format!(
        "seq {} {} event {} (partition {}, offset {})",
        e.seq,
        e.table,
        String::from_utf8_lossy(&e.value),
        e.partition,
        e.offset
    )
}

/// Compares event by event: seq, table and every field of the decoded record.
pub fn verify(
    mut files: TraceStream,
    kafka: &mut OrderedConsumer,
) -> Result<VerifyOutcome, VerifyError> {
    let mut position = 0u64;
    loop {
        let expected = files.next().transpose()?;
        let got = kafka.next().transpose()?;
        let diverged = |expected: String, got: String| {
            Ok(VerifyOutcome::Diverged(Divergence {
                position,
                expected,
                got,
            }))
        };
        match (expected, got) {
            (None, None) => return Ok(VerifyOutcome::Ok { events: position }),
            (Some(e), None) => {
                return diverged(
                    describe_expected(&e),
                    "end of stream (missing events)".into(),
                )
            }
            (None, Some(g)) => {
                return diverged("end of the files (extra events)".into(), describe_got(&g))
            }
            (Some(e), Some(g)) => {
                let same = e.seq == g.seq
                    && e.record.table() == g.table
                    && g.record().is_ok_and(|r| r == e.record);
                if !same {
                    return diverged(describe_expected(&e), describe_got(&g));
                }
            }
        }
        position += 1;
    }
}
