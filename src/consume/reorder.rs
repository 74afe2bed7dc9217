//! The release rule of ordered consumption, without Kafka: what can be released, what to
//! read next. Kept apart so that it can be tested exhaustively (see the property tests).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

struct Part<T> {
    queue: VecDeque<(u64, T)>,
    /// Every record still to come here has seq >= passed.
    passed: u64,
    /// The last thing read here was an end-of-stream mark.
    ended: bool,
}

/// Buffers records from several partitions and releases them in seq order.
pub struct Reorderer<T> {
    parts: Vec<Part<T>>,
    /// Smallest buffered seq of each non-empty partition.
    heads: BinaryHeap<Reverse<(u64, usize)>>,
    last_released: Option<u64>,
    duplicates: u64,
}

impl<T> Reorderer<T> {
    /// `last_released`: seq already released by an earlier run (everything up to it is a
    /// duplicate).
    pub fn new(partitions: usize, last_released: Option<u64>) -> Self {
        Reorderer {
            parts: (0..partitions)
                .map(|_| Part {
                    queue: VecDeque::new(),
                    passed: 0,
                    ended: false,
                })
                .collect(),
            heads: BinaryHeap::new(),
            last_released,
            duplicates: 0,
        }
    }

    pub fn last_released(&self) -> Option<u64> {
        self.last_released
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn buffered(&self) -> usize {
        self.parts.iter().map(|p| p.queue.len()).sum()
    }

    /// A progress mark read from partition `i`: later records there have seq >= next_seq.
    pub fn mark(&mut self, i: usize, next_seq: u64, end: bool) {
        let p = &mut self.parts[i];
        p.passed = p.passed.max(next_seq);
        p.ended = end;
    }

    /// A data record read from partition `i`. Returns false if it was dropped as a
    /// duplicate.
    pub fn push(&mut self, i: usize, seq: u64, item: T) -> bool {
        let p = &mut self.parts[i];
        p.passed = p.passed.max(seq + 1);
        p.ended = false;
        if self.last_released.is_some_and(|l| seq <= l) {
            self.duplicates += 1;
            return false;
        }
        if p.queue.is_empty() {
            self.heads.push(Reverse((seq, i)));
        }
        p.queue.push_back((seq, item));
        true
    }

    /// Can `seq` (the smallest buffered, from partition `from`) be released now? Yes when it
    /// follows the last released seq (seqs are dense), or when every other partition has
    /// passed it.
    fn releasable(&self, seq: u64, from: usize) -> bool {
        if self.last_released.is_some_and(|l| seq == l + 1) {
            return true;
        }
        self.parts
            .iter()
            .enumerate()
            .all(|(j, p)| j == from || !p.queue.is_empty() || p.passed > seq)
    }

    /// The next record in global order, if it can be released: (partition, seq, item).
    pub fn pop(&mut self) -> Option<(usize, u64, T)> {
        while let Some(&Reverse((seq, i))) = self.heads.peek() {
            let duplicate = self.last_released.is_some_and(|l| seq <= l);
            if !duplicate && !self.releasable(seq, i) {
                return None;
            }
            self.heads.pop();
            let p = &mut self.parts[i];
            let (_, item) = p.queue.pop_front().expect("a head has a queued record");
            if let Some((next, _)) = p.queue.front() {
                self.heads.push(Reverse((*next, i)));
            }
            if duplicate {
                self.duplicates += 1;
                continue;
            }
            self.last_released = Some(seq);
            return Some((i, seq, item));
        }
        None
    }

    /// Partitions that hold the release back: nothing buffered and not yet past the
    /// smallest buffered seq (when nothing is buffered: every partition not at its end, or
    /// all of them when following later replays).
    pub fn blocking(&self, follow: bool) -> impl Iterator<Item = usize> + '_ {
        let head = self.heads.peek().map(|Reverse((seq, _))| *seq);
        self.parts.iter().enumerate().filter_map(move |(i, p)| {
            let needed = p.queue.is_empty()
                && match head {
                    Some(h) => p.passed <= h,
                    None => follow || !p.ended,
                };
            needed.then_some(i)
        })
    }

    /// Partition `i` has records after its end mark (a later replay): not at its end.
    pub fn reopen(&mut self, i: usize) {
        self.parts[i].ended = false;
    }

    /// Nothing buffered and every partition has delivered its end mark.
    pub fn finished(&self) -> bool {
        self.heads.is_empty() && self.parts.iter().all(|p| p.ended)
    }

    /// How far partition `i` has promised to be (for diagnostics).
    pub fn passed(&self, i: usize) -> u64 {
        self.parts[i].passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the partitioning of a seq stream and the interleaving of reads across
        /// partitions, the released order is the producer's order, and nothing is released
        /// before every partition has passed it.
        #[test]
        fn releases_the_producers_sequence(
            assignment in prop::collection::vec(0usize..6, 1..400),
            reads in prop::collection::vec(0usize..6, 0..3000),
            marks_every in 1usize..20,
        ) {
            let n_parts = 6;
            let n = assignment.len() as u64;
            // What the replayer writes to each partition: data, occasional watermarks,
            // then an end mark everywhere.
            let mut logs: Vec<Vec<(bool, u64)>> = vec![Vec::new(); n_parts];
            for (seq, &p) in assignment.iter().enumerate() {
                logs[p].push((false, seq as u64));
                if seq % marks_every == 0 {
                    for (q, log) in logs.iter_mut().enumerate() {
                        if q != p {
                            log.push((true, seq as u64 + 1));
                        }
                    }
                }
            }
            for log in &mut logs {
                log.push((true, u64::MAX));
            }
            let mut pos = vec![0usize; n_parts];
            let mut r = Reorderer::<u64>::new(n_parts, None);
            let mut out = Vec::new();
            let step = |p: usize, r: &mut Reorderer<u64>, pos: &mut Vec<usize>| {
                if let Some(&(is_mark, v)) = logs[p].get(pos[p]) {
                    pos[p] += 1;
                    if is_mark {
                        if v == u64::MAX { r.mark(p, n, true) } else { r.mark(p, v, false) }
                    } else {
                        r.push(p, v, v);
                    }
                }
            };
            // Random interleaving first, then read whatever blocks until the end.
            for &p in &reads {
                step(p, &mut r, &mut pos);
                while let Some((_, s, _)) = r.pop() { out.push(s); }
            }
            let mut guard = 0;
            while !r.finished() {
                let blocking: Vec<usize> = r.blocking(false).collect();
                prop_assert!(!blocking.is_empty(), "stuck with nothing to read");
                for p in blocking { step(p, &mut r, &mut pos); }
                while let Some((_, s, _)) = r.pop() { out.push(s); }
                guard += 1;
                prop_assert!(guard < 100_000);
            }
            prop_assert_eq!(out, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn holds_back_until_every_partition_passed() {
        let mut r = Reorderer::new(2, None);
        r.push(0, 5, "e5");
        assert!(r.pop().is_none(), "partition 1 has not passed seq 5");
        r.mark(1, 5, false);
        assert!(r.pop().is_none(), "a mark at 5 promises only seqs >= 5");
        r.mark(1, 6, false);
        assert_eq!(r.pop(), Some((0, 5, "e5")));
        // Dense seqs: 6 is released as soon as it is read, whatever partition 1 says.
        r.push(0, 6, "e6");
        assert_eq!(r.pop(), Some((0, 6, "e6")));
    }

    #[test]
    fn drops_duplicates_of_a_restarted_replay() {
        let mut r = Reorderer::new(1, Some(3));
        assert!(!r.push(0, 2, 'a'));
        assert!(r.push(0, 4, 'b'));
        assert_eq!(r.pop(), Some((0, 4, 'b')));
        assert!(!r.push(0, 4, 'b'));
        assert_eq!(r.duplicates(), 2);
    }

    #[test]
    fn finished_only_after_every_end_mark() {
        let mut r: Reorderer<()> = Reorderer::new(2, None);
        r.mark(0, 0, true);
        assert!(!r.finished());
        assert_eq!(r.blocking(false).collect::<Vec<_>>(), vec![1]);
        r.mark(1, 0, true);
        assert!(r.finished());
    }
}
