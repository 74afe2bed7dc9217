//! The live tasks' states, in 32 bytes per task instead of 48.
//!
//! The aggregator's memory is mostly this table: millions of tasks are live at once in the
//! whole trace. A task's key packs into one word (job ID below 2^40, task index below 2^24,
//! which covers the real trace many times over), and its state into three: the machine ID, with
//! two values taken as markers (pending; running on no known machine), and the remembered
//! requests. Keys or machine IDs outside these ranges go to a second, general map, so every
//! input is still stored exactly; it stays empty on the trace.

use super::hash::{FoldHashMap, FxHashMap};

/// Life-cycle state of a task that is PENDING or RUNNING (unsubmitted and DEAD tasks are not
/// stored: that keeps memory bounded by the live tasks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TaskState {
    Pending,
    /// `machine` is `None` for a SCHEDULE row without machine ID: running somewhere unknown,
    /// allocating nothing. `cpu`/`mem` are the remembered requests (0.0 for an empty field).
    Running {
        machine: Option<u64>,
        cpu: f64,
        mem: f64,
    },
}

const JOB_BITS: u32 = 40;
const INDEX_BITS: u32 = 24;
const PENDING: u64 = u64::MAX;
const NO_MACHINE: u64 = u64::MAX - 1;

#[derive(Debug, Clone, Copy)]
struct Packed {
    machine: u64,
    cpu: f64,
    mem: f64,
}

impl Packed {
    /// `None` when the machine ID is one of the markers.
    fn pack(s: TaskState) -> Option<Packed> {
        Some(match s {
            TaskState::Pending => Packed {
                machine: PENDING,
                cpu: 0.0,
                mem: 0.0,
            },
            TaskState::Running { machine, cpu, mem } => Packed {
                machine: match machine {
                    None => NO_MACHINE,
                    Some(m) if m >= NO_MACHINE => return None,
                    Some(m) => m,
                },
                cpu,
                mem,
            },
        })
    }

    fn unpack(self) -> TaskState {
        match self.machine {
            PENDING => TaskState::Pending,
            NO_MACHINE => TaskState::Running {
                machine: None,
                cpu: self.cpu,
                mem: self.mem,
            },
            m => TaskState::Running {
                machine: Some(m),
                cpu: self.cpu,
                mem: self.mem,
            },
        }
    }
}

/// Job ID in the low bits (where the hash takes the bucket from), task index above.
fn pack_key((job, index): (u64, u64)) -> Option<u64> {
    (job < 1 << JOB_BITS && index < 1 << INDEX_BITS).then_some(job | index << JOB_BITS)
}

/// Map from (job ID, task index) to [`TaskState`].
#[derive(Debug, Default)]
pub(crate) struct TaskTable {
    packed: FoldHashMap<u64, Packed>,
    other: FxHashMap<(u64, u64), TaskState>,
}

impl TaskTable {
    #[inline]
    pub fn get(&self, key: &(u64, u64)) -> Option<TaskState> {
        match pack_key(*key) {
            Some(k) => match self.packed.get(&k) {
                Some(p) => Some(p.unpack()),
                None if self.other.is_empty() => None,
                None => self.other.get(key).copied(),
            },
            None => self.other.get(key).copied(),
        }
    }

    #[inline]
    pub fn insert(&mut self, key: (u64, u64), state: TaskState) {
        match (pack_key(key), Packed::pack(state)) {
            (Some(k), Some(p)) => {
                if !self.other.is_empty() {
                    self.other.remove(&key);
                }
                self.packed.insert(k, p);
            }
            (k, _) => {
                if let Some(k) = k {
                    self.packed.remove(&k);
                }
                self.other.insert(key, state);
            }
        }
    }

    #[inline]
    pub fn remove(&mut self, key: &(u64, u64)) {
        if let Some(k) = pack_key(*key) {
            self.packed.remove(&k);
        }
        if !self.other.is_empty() {
            self.other.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.packed.len() + self.other.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state() -> impl Strategy<Value = TaskState> {
        prop_oneof![
            Just(TaskState::Pending),
            (
                prop_oneof![
                    Just(None),
                    any::<u64>().prop_map(Some),
                    Just(Some(u64::MAX)),
                    Just(Some(u64::MAX - 1)),
                    (0u64..100).prop_map(Some)
                ],
                0.0f64..1.0,
                0.0f64..1.0
            )
                .prop_map(|(machine, cpu, mem)| TaskState::Running {
                    machine,
                    cpu,
                    mem
                }),
        ]
    }

    fn key() -> impl Strategy<Value = (u64, u64)> {
        prop_oneof![
            (0u64..20, 0u64..5),
            (any::<u64>(), any::<u64>()),
            (
                (1u64 << 40) - 2..(1u64 << 40) + 2,
                (1u64 << 24) - 2..(1u64 << 24) + 2
            ),
        ]
    }

    proptest! {
        /// The table behaves exactly like a plain map, whatever the keys and machine IDs.
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((key(), prop::option::of(state())), 1..300)) {
            let mut table = TaskTable::default();
            let mut model: std::collections::HashMap<(u64, u64), TaskState> = Default::default();
            for (k, op) in ops {
                match op {
                    Some(s) => {
                        table.insert(k, s);
                        model.insert(k, s);
                    }
                    None => {
                        table.remove(&k);
                        model.remove(&k);
                    }
                }
                prop_assert_eq!(table.get(&k), model.get(&k).copied());
                prop_assert_eq!(table.len(), model.len());
            }
            for (k, s) in &model {
                prop_assert_eq!(table.get(k), Some(*s));
            }
        }
    }

    #[test]
    fn a_packed_entry_is_32_bytes() {
        assert_eq!(std::mem::size_of::<(u64, Packed)>(), 32);
        assert_eq!(std::mem::size_of::<((u64, u64), TaskState)>(), 48);
    }
}
