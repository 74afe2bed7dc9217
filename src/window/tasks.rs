//! The live tasks' states, in 16 bytes per task instead of 48.
//!
//! The aggregator's memory is mostly this table: millions of tasks are live at once in the
//! whole trace. A task's key packs into one word (job ID below 2^40, task index below 2^24,
//! which covers the real trace many times over), and its state into another: the machine as
//! an index into an interner of the machine IDs seen (the real trace has about 12,600), with
//! two indices taken as markers (pending; running on no known machine), and each remembered
//! request in 22 bits. The trace's requests are short decimals (`0.06873`), so a request is
//! kept as its digits and a power of ten, from which the same `f64` comes back exactly with
//! one division and no memory access (a lookup in a table of values missed the cache on
//! every task); a request that is not such a decimal goes to an interner instead. Keys
//! outside these ranges, and values once an interner is full, go to a second, general map,
//! so every input is still stored exactly; it stays empty on the trace. The interners only
//! grow, but are capped (2^20 machines, 2^18 other values per request), so the memory stays
//! bounded whatever the input.

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

/// Bits of a packed state: machine index lowest, then the CPU and the memory request's.
const MACHINE_BITS: u32 = 20;
const REQUEST_BITS: u32 = 22;
/// A task's packed state (see [`TaskTable::pack`]): the map's value, one word.
type PackedState = u64;

const PENDING: u32 = (1 << MACHINE_BITS) - 1;
const NO_MACHINE: u32 = (1 << MACHINE_BITS) - 2;

/// A request's 22 bits: the decimal's digits in the low 18, its power of ten above; the
/// power [`INTERNED`] marks an interner index instead.
const DIGIT_BITS: u32 = 18;
const INTERNED: u32 = 15;
const POW10: [f64; 15] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
];

/// `v` as `digits / 10^e` with `digits < 2^18` and `e < 15`, when that division gives back
/// exactly `v` (a correctly rounded division of two exact values is the `f64` nearest the
/// decimal, which is what parsing the decimal gave). The fewest decimal places that do, so
/// that each value has one code, found in as many steps as the decimal has places.
#[inline]
fn decimal_code(v: f64) -> Option<u32> {
    const LIMIT: f64 = (1u32 << DIGIT_BITS) as f64;
    if !(0.0..LIMIT).contains(&v) || (v == 0.0 && v.is_sign_negative()) {
        return None;
    }
    for (e, &p) in POW10.iter().enumerate() {
        let scaled = v * p;
        if scaled >= LIMIT {
            return None;
        }
        let digits = scaled.round();
        if digits < LIMIT && digits / p == v {
            return Some(digits as u32 | (e as u32) << DIGIT_BITS);
        }
    }
    None
}

/// Distinct 64-bit values, each given a dense index below `cap`.
#[derive(Debug, Default)]
struct Interner {
    values: Vec<u64>,
    index: FoldHashMap<u64, u32>,
    /// The last value interned and its index (`None` before the first): a job's tasks are
    /// scheduled together with the same requests, so most lookups end here.
    last: Option<(u64, u32)>,
}

impl Interner {
    /// The value's index, adding it if there is room below `cap`.
    #[inline]
    fn intern(&mut self, value: u64, cap: u32) -> Option<u32> {
        if let Some((v, i)) = self.last {
            if v == value {
                return Some(i);
            }
        }
        let i = match self.index.get(&value) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.values.len()).ok().filter(|&i| i < cap)?;
                self.values.push(value);
                self.index.insert(value, i);
                i
            }
        };
        self.last = Some((value, i));
        Some(i)
    }

    #[inline]
    fn value(&self, i: u32) -> u64 {
        self.values[i as usize]
    }
}

/// Job ID in the low bits (where the hash takes the bucket from), task index above.
fn pack_key((job, index): (u64, u64)) -> Option<u64> {
    (job < 1 << JOB_BITS && index < 1 << INDEX_BITS).then_some(job | index << JOB_BITS)
}

/// Map from (job ID, task index) to [`TaskState`].
#[derive(Debug, Default)]
pub(crate) struct TaskTable {
    packed: FoldHashMap<u64, PackedState>,
    other: FxHashMap<(u64, u64), TaskState>,
    machines: Interner,
    cpus: Interner,
    mems: Interner,
}

impl TaskTable {
    /// `None` when an interner is full.
    #[inline]
    fn pack(&mut self, s: TaskState) -> Option<PackedState> {
        let (machine, cpu, mem) = match s {
            TaskState::Pending => return Some(u64::from(PENDING)),
            TaskState::Running { machine, cpu, mem } => (machine, cpu, mem),
        };
        let machine = match machine {
            None => NO_MACHINE,
            Some(m) => self.machines.intern(m, NO_MACHINE)?,
        };
        let cpu = Self::request_code(&mut self.cpus, cpu)?;
        let mem = Self::request_code(&mut self.mems, mem)?;
        Some(
            u64::from(machine)
                | u64::from(cpu) << MACHINE_BITS
                | u64::from(mem) << (MACHINE_BITS + REQUEST_BITS),
        )
    }

    #[inline]
    fn request_code(interner: &mut Interner, v: f64) -> Option<u32> {
        match decimal_code(v) {
            Some(code) => Some(code),
            None => {
                let i = interner.intern(v.to_bits(), 1 << DIGIT_BITS)?;
                Some(i | INTERNED << DIGIT_BITS)
            }
        }
    }

    #[inline]
    fn request(interner: &Interner, code: u32) -> f64 {
        let e = code >> DIGIT_BITS;
        let digits = code & ((1 << DIGIT_BITS) - 1);
        if e == INTERNED {
            f64::from_bits(interner.value(digits))
        } else {
            f64::from(digits) / POW10[e as usize]
        }
    }

    #[inline]
    fn unpack(&self, p: PackedState) -> TaskState {
        let machine = (p & ((1 << MACHINE_BITS) - 1)) as u32;
        if machine == PENDING {
            return TaskState::Pending;
        }
        let cpu = ((p >> MACHINE_BITS) & ((1 << REQUEST_BITS) - 1)) as u32;
        let mem = (p >> (MACHINE_BITS + REQUEST_BITS)) as u32;
        TaskState::Running {
            machine: (machine != NO_MACHINE).then(|| self.machines.value(machine)),
            cpu: Self::request(&self.cpus, cpu),
            mem: Self::request(&self.mems, mem),
        }
    }

    #[inline]
    pub fn get(&self, key: &(u64, u64)) -> Option<TaskState> {
        match pack_key(*key) {
            Some(k) => match self.packed.get(&k) {
                Some(&p) => Some(self.unpack(p)),
                None if self.other.is_empty() => None,
                None => self.other.get(key).copied(),
            },
            None => self.other.get(key).copied(),
        }
    }

    #[inline]
    pub fn insert(&mut self, key: (u64, u64), state: TaskState) {
        match pack_key(key).map(|k| (k, self.pack(state))) {
            Some((k, Some(p))) => {
                if !self.other.is_empty() {
                    self.other.remove(&key);
                }
                self.packed.insert(k, p);
            }
            // A full interner: the task moves to the general map.
            Some((k, None)) => {
                self.packed.remove(&k);
                self.other.insert(key, state);
            }
            None => {
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
                prop_oneof![0.0f64..1.0, (0u32..20_000).prop_map(|d| f64::from(d) / 1e5)],
                prop_oneof![0.0f64..1.0, (0u32..20_000).prop_map(|d| f64::from(d) / 1e5)]
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

    /// The trace's decimals get a code; the code gives back the same bits; other values
    /// (too many digits, negative, -0.0, NaN, huge) get none.
    #[test]
    fn decimal_codes() {
        for text in [
            "0",
            "1",
            "0.5",
            "0.06873",
            "0.0002365",
            "0.03125",
            "0.01562",
            "0.9999",
            "262143",
            "0.00000000000001",
        ] {
            let v: f64 = text.parse().unwrap();
            let code = decimal_code(v).unwrap_or_else(|| panic!("{text} has no code"));
            assert_eq!(
                TaskTable::request(&Interner::default(), code).to_bits(),
                v.to_bits(),
                "{text}"
            );
        }
        assert_eq!(decimal_code(0.5), Some(5 | 1 << DIGIT_BITS));
        assert_eq!(decimal_code(1.0), Some(1));
        for v in [
            0.1f64.sqrt(),
            -0.25,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            262144.0,
            1e-300,
            0.1234567,
        ] {
            assert_eq!(decimal_code(v), None, "{v}");
        }
    }

    proptest! {
        /// Every value with a code comes back bit for bit.
        #[test]
        fn decimal_codes_round_trip(digits in 0u32..300_000, e in 0usize..17, v in any::<f64>()) {
            let x = f64::from(digits) / 10f64.powi(e as i32);
            for v in [x, v] {
                if let Some(code) = decimal_code(v) {
                    prop_assert_eq!(TaskTable::request(&Interner::default(), code).to_bits(), v.to_bits());
                }
            }
            if digits < 1 << DIGIT_BITS && e < 15 {
                prop_assert!(decimal_code(x).is_some());
            }
        }
    }

    #[test]
    fn a_packed_entry_is_16_bytes() {
        assert_eq!(std::mem::size_of::<(u64, PackedState)>(), 16);
        assert_eq!(std::mem::size_of::<((u64, u64), TaskState)>(), 48);
    }

    /// Full interners send further values to the general map, and every state still comes
    /// back exactly (small caps stand in for the real ones).
    #[test]
    fn a_full_interner_falls_back_to_the_general_map() {
        let mut i = Interner::default();
        assert_eq!(i.intern(7, 2), Some(0));
        assert_eq!(i.intern(9, 2), Some(1));
        assert_eq!(i.intern(7, 2), Some(0));
        assert_eq!(i.intern(11, 2), None);
        assert_eq!(i.value(1), 9);

        let mut table = TaskTable::default();
        // Fill the CPU interner to its cap.
        table.cpus.values = (0..1u64 << DIGIT_BITS).collect();
        let running = TaskState::Running {
            machine: Some(5),
            cpu: 0.1f64.sqrt(),
            mem: 0.25,
        };
        table.insert((1, 0), running);
        assert_eq!(table.other.len(), 1);
        assert_eq!(table.get(&(1, 0)), Some(running));
        table.insert((1, 0), TaskState::Pending);
        assert_eq!((table.packed.len(), table.other.len()), (1, 0));
        assert_eq!(table.get(&(1, 0)), Some(TaskState::Pending));
        table.remove(&(1, 0));
        assert_eq!(table.len(), 0);
    }
}
