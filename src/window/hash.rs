//! A tiny FxHash-style hasher (the multiply-rotate hash of rustc and Firefox) for integer keys.
//!
//! The aggregator's maps are keyed by trusted 64-bit IDs from the trace, so the DoS resistance
//! of the default SipHash buys nothing and costs a large share of the per-event time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash: `h = (h.rotl(5) ^ word) * SEED` per 64-bit word.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// For one packed `u64` key whose low bits may repeat (a job's tasks differ only in high bits):
/// a folded 64x64->128-bit multiply, so that every input bit reaches the low bits the table
/// takes the bucket from (Fx's plain multiply leaves them to the key's low bits).
#[derive(Debug, Default, Clone, Copy)]
pub struct FoldHasher {
    hash: u64,
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        let m = u128::from(i ^ self.hash ^ 0x243f_6a88_85a3_08d3) * u128::from(SEED);
        self.hash = (m as u64) ^ ((m >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` with [`FoldHasher`], for single `u64` keys.
pub type FoldHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash_of<T: Hash>(v: T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(v)
    }

    #[test]
    fn distinct_keys_hash_differently() {
        assert_ne!(hash_of((1u64, 2u64)), hash_of((2u64, 1u64)));
        assert_ne!(hash_of(1u64), hash_of(2u64));
        let mut m: FxHashMap<(u64, u64), u32> = FxHashMap::default();
        for j in 0..100u64 {
            for t in 0..100u64 {
                m.insert((j * 6_000_000_000, t), 1);
            }
        }
        assert_eq!(m.len(), 10_000);
    }

    #[test]
    fn fold_hash_spreads_keys_that_differ_in_high_bits_only() {
        let h = |k: u64| BuildHasherDefault::<FoldHasher>::default().hash_one(k);
        // Keys differing only above bit 40 land in many low-bit buckets.
        let buckets: std::collections::HashSet<u64> =
            (0..1024u64).map(|i| h(7 | i << 40) & 1023).collect();
        assert!(buckets.len() > 600, "{} of 1024 buckets", buckets.len());
    }
}
