//! Decompression bombs: 100 MiB of zeros, compressed by each of Kafka's codecs, must be refused
//! with a 1 MiB output cap, and memory must stay small while refusing.
//!
//! Method: a counting global allocator records the peak of live heap bytes while `decompress`
//! (or `decode_batch_records`) runs; tests in this binary run one at a time under a lock so the
//! peak is theirs alone. Bombs are compressed from a stream of zero chunks, never a 100 MiB
//! buffer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use protocol::records::{
    Compression, RecordBatchBuilder, RecordBatchHeader, RecordsError, decode_batch_records,
    decompress,
};

struct PeakTracking;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for PeakTracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: PeakTracking = PeakTracking;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const BOMB_BYTES: usize = 100 << 20;
const CAP_BYTES: usize = 1 << 20;
/// Output cap plus the codecs' own buffers: lz4_flex's are the largest (twice the frame's
/// 4 MiB maximum block size for linked blocks).
const PEAK_BYTES_MAX: usize = 12 << 20;

/// Writes `BOMB_BYTES` zeros through `encoder` in 1 MiB chunks.
fn feed_zeros(encoder: &mut impl Write) {
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..BOMB_BYTES / chunk.len() {
        encoder.write_all(&chunk).expect("in-memory write");
    }
}

fn bomb(codec: Compression) -> Vec<u8> {
    match codec {
        Compression::None => unreachable!("no bomb without compression"),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            feed_zeros(&mut encoder);
            encoder.finish().expect("gzip")
        }
        Compression::Snappy => {
            // Xerial framing, as Java writes it: 32 KiB blocks, each a few bytes compressed.
            let block = snap::raw::Encoder::new()
                .compress_vec(&[0u8; 32 * 1024])
                .expect("snappy");
            let mut stream = b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01".to_vec();
            for _ in 0..BOMB_BYTES / (32 * 1024) {
                stream.extend_from_slice(&(block.len() as u32).to_be_bytes());
                stream.extend_from_slice(&block);
            }
            stream
        }
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            feed_zeros(&mut encoder);
            encoder.finish().expect("lz4")
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd");
            feed_zeros(&mut encoder);
            encoder.finish().expect("zstd")
        }
    }
}

/// Runs `decompress` on a bomb and returns its result and the peak heap growth during it.
fn measure<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let baseline = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(baseline, Ordering::Relaxed);
    let result = run();
    let peak = PEAK_BYTES.load(Ordering::Relaxed).saturating_sub(baseline);
    (result, peak)
}

fn check_bomb(codec: Compression) {
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let compressed = bomb(codec);
    // Snappy's copies are at most 64 bytes, so its bombs are ~20:1; the others are >200:1.
    assert!(compressed.len() < BOMB_BYTES / 16, "{codec} bomb is small");
    let (result, peak) = measure(|| decompress(codec, &compressed, CAP_BYTES));
    assert_eq!(
        result,
        Err(RecordsError::DecompressedTooLarge { limit: CAP_BYTES }),
        "{codec}"
    );
    assert!(peak <= PEAK_BYTES_MAX, "{codec} peaked at {peak} bytes");
    eprintln!(
        "{codec}: bomb {} bytes, peak {peak} bytes",
        compressed.len()
    );
}

#[test]
fn gzip_bomb_is_refused_in_bounded_memory() {
    check_bomb(Compression::Gzip);
}

#[test]
fn snappy_xerial_bomb_is_refused_in_bounded_memory() {
    check_bomb(Compression::Snappy);
}

#[test]
fn snappy_raw_bomb_is_refused_before_allocating() {
    // A raw block whose preamble claims 100 MiB: refused from the declared length alone.
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut block = Vec::new();
    let mut length = BOMB_BYTES as u64;
    while length >= 0x80 {
        block.push((length as u8 & 0x7f) | 0x80);
        length >>= 7;
    }
    block.push(length as u8);
    block.extend_from_slice(&[0x00, 0x00]); // a literal of one zero byte, then nothing
    let (result, peak) = measure(|| decompress(Compression::Snappy, &block, CAP_BYTES));
    assert_eq!(
        result,
        Err(RecordsError::DecompressedTooLarge { limit: CAP_BYTES })
    );
    assert!(peak < 64 * 1024, "peaked at {peak} bytes");
}

#[test]
fn lz4_bomb_is_refused_in_bounded_memory() {
    check_bomb(Compression::Lz4);
}

#[test]
fn zstd_bomb_is_refused_in_bounded_memory() {
    check_bomb(Compression::Zstd);
}

#[test]
fn bomb_inside_a_batch_is_refused_by_decode_batch_records() {
    // The same bomb reached through the batch path the broker uses.
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let compressed = bomb(Compression::Zstd);
    let mut batch = RecordBatchBuilder::new()
        .compression(Compression::Zstd)
        .build()
        .expect("empty batch")
        .to_vec();
    batch.extend_from_slice(&compressed);
    let batch_length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    batch[57..61].copy_from_slice(&1i32.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = Bytes::from(batch);
    let header = RecordBatchHeader::parse(&batch).expect("parse");
    header.verify_crc().expect("CRC");
    let (result, peak) = measure(|| decode_batch_records(&header, &batch, CAP_BYTES).map(|_| ()));
    assert_eq!(
        result,
        Err(RecordsError::DecompressedTooLarge { limit: CAP_BYTES })
    );
    assert!(peak <= PEAK_BYTES_MAX, "peaked at {peak} bytes");
}
