//! Batch reads from librdkafka partition queues, through the C API.
//!
//! rust-rdkafka's `PartitionQueue::poll` returns one message per call, and each call reads
//! the clock several times and takes the queue lock: at a million records per second that
//! was a fifth of the reader thread. `rd_kafka_consume_batch_queue` takes up to a batch
//! under one lock. All unsafe code of the consumer is here, behind [`PartitionQueues`] and
//! [`RawMessage`].
#![allow(unsafe_code)]

use super::ConsumeError;
use crate::kafka::log::LogContext;
use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::time::Duration;

/// Records taken from a partition queue per call.
pub const BATCH: usize = 256;

/// The partition queues of a consumer, split off its main queue (like
/// `split_partition_queue`), destroyed on drop. They hold the consumer, so it outlives them.
pub struct PartitionQueues {
    queues: Vec<*mut rdsys::rd_kafka_queue_t>,
    /// Dropped after `queues` are destroyed (see `Drop`): the queue handles point into it.
    consumer: Arc<BaseConsumer<LogContext>>,
}

// SAFETY: librdkafka queue handles may be used and destroyed from any thread, and the
// consumer they belong to is `Send + Sync`.
unsafe impl Send for PartitionQueues {}

impl PartitionQueues {
    /// Splits off the queue of each (topic, partition), in order, and only then assigns
    /// `tpl`. The order matters: librdkafka starts fetching as soon as a partition is
    /// assigned, and until its queue is split off, fetched messages go to the consumer's
    /// main queue, which is never read here. A small topic fits in one fetch, so a consumer
    /// that assigned first could lose a whole partition, end marks included (seen in CI).
    /// Splitting first marks each queue as forwarded by the application, and the assignment
    /// then leaves it alone (`rd_kafka_toppar_op_fetch_start`, `RD_KAFKA_Q_F_FWD_APP`).
    pub fn split_and_assign(
        consumer: Arc<BaseConsumer<LogContext>>,
        tpl: &TopicPartitionList,
        parts: impl IntoIterator<Item = (String, i32)>,
    ) -> Result<PartitionQueues, ConsumeError> {
        let queues = Self::split(consumer, parts)
            .map_err(|(topic, partition)| ConsumeError::Queue { topic, partition })?;
        queues
            .consumer
            .assign(tpl)
            .map_err(|source| ConsumeError::Client {
                doing: "assigning partitions",
                source: Box::new(source),
            })?;
        Ok(queues)
    }

    /// The consumer the queues belong to.
    pub fn consumer(&self) -> &BaseConsumer<LogContext> {
        &self.consumer
    }

    /// Splits off the queue of each (topic, partition), in order (they need not be
    /// assigned yet).
    fn split(
        consumer: Arc<BaseConsumer<LogContext>>,
        parts: impl IntoIterator<Item = (String, i32)>,
    ) -> Result<PartitionQueues, (String, i32)> {
        let rk = consumer.client().native_ptr();
        let mut out = PartitionQueues {
            queues: Vec::new(),
            consumer,
        };
        for (topic, partition) in parts {
            let name = CString::new(topic.clone()).map_err(|_| (topic.clone(), partition))?;
            // SAFETY: valid client handle and C string.
            let q = unsafe { rdsys::rd_kafka_queue_get_partition(rk, name.as_ptr(), partition) };
            if q.is_null() {
                return Err((topic, partition));
            }
            // SAFETY: `q` was just returned; forwarding to null detaches it from the
            // consumer queue so that its messages are served only here.
            unsafe { rdsys::rd_kafka_queue_forward(q, std::ptr::null_mut()) };
            out.queues.push(q);
        }
        Ok(out)
    }

    /// Takes up to [`BATCH`] messages of queue `i`: those already fetched, or, when there
    /// are none, waits up to `timeout` for one. Calls `f` on each in order; every message
    /// is destroyed afterwards, also when `f` fails.
    pub fn read<E>(
        &self,
        i: usize,
        timeout: Duration,
        mut f: impl FnMut(RawMessage<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let q = self.queues[i];
        let mut batch = Batch {
            msgs: [std::ptr::null_mut(); BATCH],
            n: 0,
            next: 0,
        };
        // SAFETY: `q` is a live queue handle and `msgs` has room for BATCH pointers.
        let mut n =
            unsafe { rdsys::rd_kafka_consume_batch_queue(q, 0, batch.msgs.as_mut_ptr(), BATCH) };
        if n == 0 && !timeout.is_zero() {
            // With a timeout the call waits until the batch is full: ask for one message.
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: as above, room for one pointer.
            n = unsafe { rdsys::rd_kafka_consume_batch_queue(q, ms, batch.msgs.as_mut_ptr(), 1) };
        }
        batch.n = n.max(0) as usize;
        while batch.next < batch.n {
            let m = batch.msgs[batch.next];
            batch.next += 1;
            // SAFETY: librdkafka returned a valid message; it is destroyed only after `f`
            // returns (by `batch`), and `RawMessage` cannot outlive this iteration.
            let res = f(RawMessage { m: unsafe { &*m } });
            // SAFETY: returned by consume_batch_queue, destroyed exactly once.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
            res?;
        }
        Ok(batch.n)
    }
}

impl Drop for PartitionQueues {
    fn drop(&mut self) {
        for q in self.queues.drain(..) {
            // SAFETY: each handle came from rd_kafka_queue_get_partition, destroyed once.
            unsafe { rdsys::rd_kafka_queue_destroy(q) };
        }
    }
}

/// Destroys the messages `f` has not seen when `read` returns early.
struct Batch {
    msgs: [*mut rdsys::rd_kafka_message_t; BATCH],
    n: usize,
    next: usize,
}

impl Drop for Batch {
    fn drop(&mut self) {
        for &m in &self.msgs[self.next..self.n] {
            // SAFETY: returned by consume_batch_queue and not yet destroyed.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
    }
}

/// One message of a batch, valid during the callback.
pub struct RawMessage<'a> {
    m: &'a rdsys::rd_kafka_message_t,
}

impl RawMessage<'_> {
    /// The error this message carries instead of data (code and librdkafka's text), if any.
    pub fn error(&self) -> Option<(RDKafkaErrorCode, String)> {
        if self.m.err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: valid message; the returned C string lives as long as it.
        let text = unsafe { CStr::from_ptr(rdsys::rd_kafka_message_errstr(self.m)) }
            .to_string_lossy()
            .into_owned();
        Some((self.m.err.into(), text))
    }

    pub fn offset(&self) -> i64 {
        self.m.offset
    }

    pub fn payload(&self) -> Option<&[u8]> {
        if self.m.payload.is_null() {
            None
        } else {
            // SAFETY: librdkafka guarantees `len` bytes at `payload` while the message lives.
            Some(unsafe { std::slice::from_raw_parts(self.m.payload as *const u8, self.m.len) })
        }
    }

    /// Record timestamp in ms since the epoch, if the record has one.
    pub fn timestamp_ms(&self) -> Option<i64> {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: valid message and out-pointer.
        let ts = unsafe { rdsys::rd_kafka_message_timestamp(self.m, &mut kind) };
        (kind != rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE).then_some(ts)
    }

    /// The value of the last header named `name`; `None` when absent or null.
    pub fn header(&self, name: &CStr) -> Option<&[u8]> {
        let mut hdrs = std::ptr::null_mut();
        // SAFETY: valid message; the headers belong to it (parsed once, then cached).
        let err = unsafe { rdsys::rd_kafka_message_headers(self.m, &mut hdrs) };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        let mut value = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: valid headers and C string; the value lives as long as the message.
        let err =
            unsafe { rdsys::rd_kafka_header_get_last(hdrs, name.as_ptr(), &mut value, &mut size) };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || value.is_null() {
            return None;
        }
        // SAFETY: as above.
        Some(unsafe { std::slice::from_raw_parts(value as *const u8, size) })
    }
}
