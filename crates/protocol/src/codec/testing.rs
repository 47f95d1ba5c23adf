//! Deterministic random values for property tests of the generated codec: a small seeded
//! generator and helpers the generated `random` constructors call.

use bytes::Bytes;

use super::{RawTaggedField, Records, UnknownTaggedFields, Uuid};

/// A seeded SplitMix64 generator: deterministic, so a failing seed reproduces.
#[derive(Debug, Clone)]
pub struct TestRng {
    state: u64,
    /// Nesting depth of the value being built; arrays stay short below the top.
    pub depth: usize,
}

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            depth: 0,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    pub fn bool(&mut self) -> bool {
        self.chance(2)
    }
    pub fn i8(&mut self) -> i8 {
        self.edgy() as i8
    }
    pub fn i16(&mut self) -> i16 {
        self.edgy() as i16
    }
    pub fn u16(&mut self) -> u16 {
        self.edgy() as u16
    }
    pub fn i32(&mut self) -> i32 {
        self.edgy() as i32
    }
    pub fn i64(&mut self) -> i64 {
        self.edgy() as i64
    }
    /// Finite values only, so decoded values compare equal.
    pub fn f64(&mut self) -> f64 {
        (self.i32() as f64) / 4.0
    }

    /// Mostly small numbers, sometimes extremes: where encodings break.
    fn edgy(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => u64::MAX,
            2 => self.next_u64(),
            3 => i64::MIN as u64,
            4 => i64::MAX as u64,
            _ => self.below(1000),
        }
    }

    pub fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        Uuid(bytes)
    }

    pub fn string(&mut self) -> String {
        const ALPHABET: &[char] = &['a', 'z', 'Q', '0', '-', '.', '_', 'é', '✓', ' '];
        let length = self.below(12) as usize;
        (0..length)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    pub fn bytes(&mut self) -> Bytes {
        let length = self.below(24) as usize;
        (0..length)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    pub fn records(&mut self) -> Records {
        Records::Bytes(self.bytes())
    }

    /// How many elements an array gets at the current depth.
    pub fn array_len(&mut self) -> usize {
        let max = if self.depth > 2 { 2 } else { 4 };
        self.below(max) as usize
    }

    /// Unknown tagged fields with tags above any this codec knows.
    pub fn unknown_tagged_fields(&mut self) -> UnknownTaggedFields {
        if !self.chance(4) {
            return UnknownTaggedFields::new();
        }
        let count = 1 + self.below(2) as u32;
        (0..count)
            .map(|index| RawTaggedField {
                tag: 1000 + index * 7 + self.below(5) as u32,
                data: self.bytes(),
            })
            .collect()
    }
}
