//! The quick mutated-frame test of bounded decoding: hostile variations of real and generated
//! frames never make `decode_request` or `decode_response` panic or allocate more than a small
//! multiple of the frame's size.
//!
//! Goal: the "Bounded decoding" promise of issue 2 — a length or count larger than the bytes
//! that remain is an error before any allocation; no input makes decode panic, abort, loop, or
//! allocate more than `16 * frame_len + 64 KiB`.
//!
//! Method: seeds are the golden request frames captured from real clients plus one random valid
//! request frame (`RequestBody::random`, header matching its key and version) for every API and
//! version. Each seed gets a fixed number of mutations, chosen by a seeded `TestRng` so a
//! failure reproduces: bit flips, byte overwrites (0x00/0xff/0x7f), truncations, insertions,
//! 4-byte windows overwritten with huge or negative lengths (0x7fffffff, 0xffffffff,
//! 0x80000000), 2-byte windows with 0x7fff/0xffff, and varint-huge byte runs; a few mutants get
//! two or three of these at once. The golden response frames get the same treatment through
//! `decode_response`. This test binary installs a counting global allocator that tracks, per
//! thread, the bytes currently allocated and their peak, so each decode's peak is measured alone.
//!
//! The coverage-guided counterpart is the cargo-fuzz target in `fuzz/` (docs/internals/fuzzing.md).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use protocol::codec::testing::TestRng;
use protocol::generated::RequestHeader;
use protocol::{ApiKey, RequestBody};

/// Bytes one decode may allocate at its peak, for a frame of `frame_len` bytes.
fn allocation_bound_bytes(frame_len: usize) -> usize {
    16 * frame_len + 64 * 1024
}

/// Random valid request frames made for each API version, as seeds.
const RANDOM_SEEDS_PER_VERSION: u64 = 3;
/// Mutants made from each seed frame; there are ~1,000 seeds, so ~500,000 mutated frames.
const MUTANTS_PER_SEED: usize = 512;
/// Mutants made from each golden response frame (fewer seeds, so more per seed).
const MUTANTS_PER_RESPONSE: usize = 2_000;
const FRAMES_MIN: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// The counting allocator.

/// Counts the bytes allocated by the current thread: the current total and the peak since the
/// last [`reset_peak`]. Signed because a thread may free memory another thread allocated.
///
/// It must not allocate itself: the counters are `const`-initialised thread locals of `Cell`s,
/// which have no destructor and no lazy initialisation.
struct CountingAllocator;

thread_local! {
    static CURRENT_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn record_alloc(size: usize) {
    let _ = CURRENT_BYTES.try_with(|current| {
        let now = current.get() + size as isize;
        current.set(now);
        let _ = PEAK_BYTES.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

fn record_dealloc(size: usize) {
    let _ = CURRENT_BYTES.try_with(|current| current.set(current.get() - size as isize));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            record_alloc(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            record_alloc(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        record_dealloc(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            // Counted as "new block, then old block freed": the peak a copying realloc reaches.
            record_alloc(new_size);
            record_dealloc(layout.size());
        }
        new_pointer
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `decode` and returns the peak bytes it allocated above what was allocated before it.
fn peak_bytes_during<T>(decode: impl FnOnce() -> T) -> usize {
    let baseline = CURRENT_BYTES.with(Cell::get);
    PEAK_BYTES.with(|peak| peak.set(baseline));
    let result = decode();
    let peak = PEAK_BYTES.with(Cell::get);
    drop(result);
    (peak - baseline).max(0) as usize
}

// ---------------------------------------------------------------------------------------------
// Seeds.

/// A frame to mutate, with what it is for the failure message.
struct Seed {
    name: String,
    frame: Vec<u8>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Golden files with `suffix` (".req.bin" or ".resp.bin"), sorted, with their API and version
/// parsed from the name `NNN-<ApiName>-v<version><suffix>`.
fn golden_files(suffix: &str) -> Vec<(PathBuf, ApiKey, i16)> {
    let mut files = Vec::new();
    for client in std::fs::read_dir(golden_dir()).expect("tests/golden exists") {
        let client = client.unwrap().path();
        if !client.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&client).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let Some(stem) = name.strip_suffix(suffix) else {
                continue;
            };
            let (api_key, version) = parse_golden_stem(stem)
                .unwrap_or_else(|| panic!("golden file name not NNN-<ApiName>-v<N>: {name}"));
            files.push((path, api_key, version));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// `"005-Produce-v13"` -> `(ApiKey::Produce, 13)`.
fn parse_golden_stem(stem: &str) -> Option<(ApiKey, i16)> {
    let (rest, version) = stem.rsplit_once("-v")?;
    let (_, api_name) = rest.split_once('-')?;
    let api_key = ApiKey::ALL
        .iter()
        .copied()
        .find(|key| key.name() == api_name)?;
    Some((api_key, version.parse().ok()?))
}

fn request_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (path, api_key, version) in golden_files(".req.bin") {
        let frame = std::fs::read(&path).unwrap();
        // A client may probe with a version we do not serve (franz-go's ApiVersions v5); such a
        // frame is refused, and is still a fine seed for mutations of its body.
        let served = (api_key.versions().0..=api_key.versions().1).contains(&version);
        let decoded = protocol::decode_request(Bytes::from(frame.clone()));
        assert_eq!(
            decoded.is_ok(),
            served,
            "golden {}: {decoded:?}",
            path.display()
        );
        seeds.push(Seed {
            name: path.display().to_string(),
            frame,
        });
    }
    for &api_key in ApiKey::ALL {
        let (min, max) = api_key.versions();
        for (version, value) in
            (min..=max).flat_map(|v| (0..RANDOM_SEEDS_PER_VERSION).map(move |i| (v, i)))
        {
            let mut rng =
                TestRng::new(0x5eed ^ (api_key as u64) << 16 ^ (version as u64) << 8 ^ value);
            let mut header =
                RequestHeader::random(&mut rng, api_key.request_header_version(version));
            header.request_api_key = api_key as i16;
            header.request_api_version = version;
            let body = RequestBody::random(api_key, &mut rng, version);
            let frame = protocol::encode_request(&header, &body).expect("random values encode");
            seeds.push(Seed {
                name: format!("random {} v{version} #{value}", api_key.name()),
                frame: frame.to_vec(),
            });
        }
    }
    seeds
}

// ---------------------------------------------------------------------------------------------
// Mutations.

const HUGE_I32: [[u8; 4]; 3] = [
    0x7fff_ffffu32.to_be_bytes(),
    0xffff_ffffu32.to_be_bytes(),
    0x8000_0000u32.to_be_bytes(),
];
const HUGE_I16: [[u8; 2]; 2] = [[0x7f, 0xff], [0xff, 0xff]];
/// Unsigned varints at or past the 5-byte limit: u32::MAX, i32::MAX, over-long, never-ending.
const HUGE_VARINTS: [&[u8]; 4] = [
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xfe, 0xff, 0xff, 0xff, 0x07],
    &[0xff, 0xff, 0xff, 0xff, 0x7f],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
];

/// A position to mutate: mostly past the 8-byte request prefix (key, version, correlation id),
/// where a mutation reaches the header and body rather than being refused as an unknown API.
fn position(rng: &mut TestRng, len: usize) -> usize {
    if len > 8 && !rng.chance(8) {
        8 + rng.below((len - 8) as u64) as usize
    } else {
        rng.below(len.max(1) as u64) as usize
    }
}

fn overwrite(frame: &mut [u8], at: usize, with: &[u8]) {
    for (offset, byte) in with.iter().enumerate() {
        if let Some(slot) = frame.get_mut(at + offset) {
            *slot = *byte;
        }
    }
}

/// Applies one mutation, chosen by `rng`, to `frame`.
fn mutate_once(rng: &mut TestRng, frame: &mut Vec<u8>) {
    if frame.is_empty() {
        frame.push(rng.next_u64() as u8);
        return;
    }
    let at = position(rng, frame.len());
    match rng.below(9) {
        0 => frame[at] ^= 1 << rng.below(8),
        1 => frame[at] = [0x00, 0xff, 0x7f][rng.below(3) as usize],
        2 => frame.truncate(at),
        3 => {
            let count = 1 + rng.below(8) as usize;
            let inserted: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
            frame.splice(at..at, inserted);
        }
        4 | 5 => overwrite(frame, at, &HUGE_I32[rng.below(3) as usize]),
        6 => overwrite(frame, at, &HUGE_I16[rng.below(2) as usize]),
        7 => overwrite(frame, at, HUGE_VARINTS[rng.below(4) as usize]),
        _ => frame[at] = rng.next_u64() as u8,
    }
}

/// One mutant of `seed`: usually one mutation, sometimes two or three.
fn mutant(rng: &mut TestRng, seed: &[u8]) -> Vec<u8> {
    let mut frame = seed.to_vec();
    let mutations = match rng.below(8) {
        0 => 3,
        1 | 2 => 2,
        _ => 1,
    };
    for _ in 0..mutations {
        mutate_once(rng, &mut frame);
    }
    frame
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// What the runs saw, for the printed summary.
#[derive(Default)]
struct Tally {
    frames: usize,
    decoded: usize,
    /// Worst peak allocation over frame length, and the frame it came from.
    worst_ratio: f64,
    worst_peak_bytes: usize,
    worst_frame_len: usize,
    worst_name: String,
    /// Largest peak allocation of any decode, and that frame's length.
    largest_peak_bytes: usize,
    largest_peak_frame_len: usize,
}

impl Tally {
    /// Decodes `frame` with `decode`, asserting no panic and the allocation bound.
    fn check(&mut self, name: &str, frame: Vec<u8>, decode: impl Fn(Bytes) -> bool) {
        let frame_len = frame.len();
        let payload = Bytes::from(frame);
        let mut decoded = false;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            peak_bytes_during(|| decoded = decode(payload.clone()))
        }));
        let peak_bytes = match outcome {
            Ok(peak_bytes) => peak_bytes,
            Err(_) => panic!(
                "decode panicked on a mutant of {name} ({frame_len} bytes): {:02x?}",
                &payload[..]
            ),
        };
        assert!(
            peak_bytes <= allocation_bound_bytes(frame_len),
            "decode of a mutant of {name} ({frame_len} bytes) allocated {peak_bytes} bytes at \
             its peak, over the bound {}: {:02x?}",
            allocation_bound_bytes(frame_len),
            &payload[..]
        );
        let ratio = peak_bytes as f64 / frame_len.max(1) as f64;
        if ratio > self.worst_ratio {
            self.worst_ratio = ratio;
            self.worst_peak_bytes = peak_bytes;
            self.worst_frame_len = frame_len;
            self.worst_name = name.to_owned();
        }
        if peak_bytes > self.largest_peak_bytes {
            self.largest_peak_bytes = peak_bytes;
            self.largest_peak_frame_len = frame_len;
        }
        self.frames += 1;
        self.decoded += usize::from(decoded);
    }

    fn print(&self, what: &str, seeds: usize) {
        println!(
            "{what}: {} mutated frames from {seeds} seeds, {} still decoded; worst peak \
             allocation {:.1} x frame length ({} bytes for a {}-byte mutant of {}); largest \
             peak {} bytes (a {}-byte frame)",
            self.frames,
            self.decoded,
            self.worst_ratio,
            self.worst_peak_bytes,
            self.worst_frame_len,
            self.worst_name,
            self.largest_peak_bytes,
            self.largest_peak_frame_len
        );
    }
}

#[test]
fn mutated_request_frames_never_panic_or_over_allocate() {
    let seeds = request_seeds();
    let mut tally = Tally::default();
    for (index, seed) in seeds.iter().enumerate() {
        let mut rng = TestRng::new(0xf4a3e ^ index as u64);
        tally.check(&seed.name, seed.frame.clone(), |payload| {
            protocol::decode_request(payload).is_ok()
        });
        for _ in 0..MUTANTS_PER_SEED {
            let frame = mutant(&mut rng, &seed.frame);
            tally.check(&seed.name, frame, |payload| {
                protocol::decode_request(payload).is_ok()
            });
        }
    }
    tally.print("requests", seeds.len());
    assert!(tally.frames >= FRAMES_MIN, "only {} frames", tally.frames);
}

#[test]
fn mutated_golden_response_frames_never_panic_or_over_allocate() {
    let files = golden_files(".resp.bin");
    assert!(!files.is_empty());
    let mut tally = Tally::default();
    for (index, (path, api_key, version)) in files.iter().enumerate() {
        let seed = std::fs::read(path).unwrap();
        let name = path.display().to_string();
        // A broker answers an ApiVersions request of a version it does not serve with a v0 body
        // carrying UNSUPPORTED_VERSION (KIP-511).
        let unsupported = seed.get(4..6) == Some(&35i16.to_be_bytes()[..]);
        let version = if *api_key == ApiKey::ApiVersions && unsupported {
            0
        } else {
            *version
        };
        let decode = |payload: Bytes| protocol::decode_response(*api_key, version, payload).is_ok();
        assert!(decode(Bytes::from(seed.clone())), "golden {name} decodes");
        let mut rng = TestRng::new(0x7e5b ^ index as u64);
        for _ in 0..MUTANTS_PER_RESPONSE {
            tally.check(&name, mutant(&mut rng, &seed), decode);
        }
    }
    tally.print("responses", files.len());
}

/// A crafted worst case for the allocation bound: a request header (v2) whose tagged-field
/// section is nothing but empty unknown fields, each the fewest bytes one can take, so the frame
/// is all per-element overhead. Unknown tagged fields are kept in their wire encoding
/// (`UnknownTaggedFields`), so this stays within the bound; it failed at 32.8x when they were a
/// `Vec<RawTaggedField>`.
#[test]
fn a_header_of_only_empty_tagged_fields_stays_within_the_allocation_bound() {
    for fields in [1_000usize, 10_000, 100_000] {
        let mut frame = Vec::new();
        frame.extend_from_slice(&(ApiKey::ApiVersions as i16).to_be_bytes());
        frame.extend_from_slice(&3i16.to_be_bytes()); // ApiVersions v3: request header v2
        frame.extend_from_slice(&7i32.to_be_bytes()); // correlation id
        frame.extend_from_slice(&(-1i16).to_be_bytes()); // client id: null
        put_unsigned_varint(&mut frame, fields as u32);
        for index in 0..fields {
            put_unsigned_varint(&mut frame, 1_000 + index as u32); // tag, ascending
            frame.push(0); // size
        }
        frame.extend_from_slice(&[1, 1, 0]); // body: empty compact strings, no tagged fields
        let frame_len = frame.len();
        let mut decoded = None;
        let peak_bytes = peak_bytes_during(|| {
            decoded = Some(protocol::decode_request(Bytes::from(frame)).is_ok());
        });
        println!(
            "{fields} empty tagged fields: {frame_len}-byte frame, decoded {decoded:?}, peak \
             {peak_bytes} bytes ({:.1} x)",
            peak_bytes as f64 / frame_len as f64
        );
        assert!(
            peak_bytes <= allocation_bound_bytes(frame_len),
            "{fields} empty tagged fields: {peak_bytes} bytes for a {frame_len}-byte frame"
        );
    }
}

fn put_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
