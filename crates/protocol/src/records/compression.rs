//! Compression and capped decompression of a batch's record bytes for Kafka's codecs: gzip,
//! snappy (xerial-framed and raw), lz4 (frame format) and zstd.
//!
//! Invariant: decompression never holds more than `max_output_bytes` of output. Streaming codecs
//! are read in chunks into a buffer whose capacity is kept at or under the cap, and the error
//! comes as soon as one more byte would pass it (decompression bombs). Snappy checks each
//! block's declared length before allocating. Codec-internal buffers are bounded by the format:
//! gzip's 32 KiB window, lz4's block buffers (twice the frame's block size, at most 4 MiB, or
//! 8 MiB for legacy frames), and zstd's window, capped at `max(8 MiB, max_output_bytes)`
//! (rounded up to a power of two, at most 128 MiB).
//!
//! Choices: snappy compression writes Java's xerial framing (what the Java client and broker
//! write; librdkafka and Java read it), in 32 KiB blocks like snappy-java. Decompression detects
//! xerial by its magic and otherwise reads one raw snappy block, as librdkafka writes. lz4 writes
//! a frame with independent 64 KiB blocks and no checksums, like Kafka's Java client; magic-v2
//! batches use correct frame header checksums (KIP-57), which the decoder verifies. zstd writes
//! level 3 and gzip level 6, the codecs' and Kafka's defaults.

use std::io::{self, Read, Write};

use super::{Compression, RecordsError};

/// snappy-java's stream magic: `\x82SNAPPY\0`.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
/// Magic, version (i32) and compatible version (i32).
const XERIAL_HEADER_BYTES: usize = 16;
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// snappy-java's default block size.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// Bytes read from a streaming decoder at a time.
const READ_CHUNK_BYTES: usize = 32 * 1024;
const ZSTD_LEVEL: i32 = 3;
/// zstd windows up to 8 MiB (what levels 1..=19 use) are always accepted.
const ZSTD_WINDOW_LOG_MIN: u32 = 23;
/// zstd's own default limit (128 MiB).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Decompresses a batch's record bytes, refusing output past `max_output_bytes`.
///
/// `Compression::None` copies `input` (within the cap); callers that want zero copy handle it
/// before calling (see `decode_batch_records`).
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_output_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => {
            if input.len() > max_output_bytes {
                return Err(RecordsError::DecompressedTooLarge {
                    limit: max_output_bytes,
                });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_capped(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            max_output_bytes,
        ),
        Compression::Snappy => decompress_snappy(input, max_output_bytes),
        Compression::Lz4 => read_capped(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            max_output_bytes,
        ),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|error| decompression_error(codec, &error))?;
            decoder
                .window_log_max(zstd_window_log_max(max_output_bytes))
                .map_err(|error| decompression_error(codec, &error))?;
            read_capped(codec, decoder, max_output_bytes)
        }
    }
}

/// Compresses record bytes with `codec` (see the module doc for the framing each writes).
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, RecordsError> {
    let compressed = match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).and_then(|()| encoder.finish())
        }
        Compression::Snappy => compress_xerial(input),
        Compression::Lz4 => {
            let frame_info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder =
                lz4_flex::frame::FrameEncoder::with_frame_info(frame_info, Vec::new());
            encoder
                .write_all(input)
                .and_then(|()| encoder.finish().map_err(io::Error::from))
        }
        Compression::Zstd => zstd::bulk::compress(input, ZSTD_LEVEL),
    };
    compressed.map_err(|error| RecordsError::Compression {
        codec,
        message: error.to_string(),
    })
}

fn decompression_error(codec: Compression, error: &dyn std::fmt::Display) -> RecordsError {
    RecordsError::Decompression {
        codec,
        message: error.to_string(),
    }
}

/// The largest zstd window accepted for a given output cap: 8 MiB, or the cap rounded up to a
/// power of two, whichever is larger, and never more than zstd's default 128 MiB.
fn zstd_window_log_max(max_output_bytes: usize) -> u32 {
    let cap_log = max_output_bytes
        .checked_next_power_of_two()
        .map_or(usize::BITS, usize::trailing_zeros);
    cap_log.clamp(ZSTD_WINDOW_LOG_MIN, ZSTD_WINDOW_LOG_MAX)
}

/// Reads `reader` to its end into a buffer whose capacity never passes `max_output_bytes`.
fn read_capped(
    codec: Compression,
    mut reader: impl Read,
    max_output_bytes: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(decompression_error(codec, &error)),
        };
        append_capped(&mut out, &chunk[..read], max_output_bytes)?;
    }
}

/// Appends `bytes`, growing `out` at most to `max_output_bytes` of capacity.
fn append_capped(
    out: &mut Vec<u8>,
    bytes: &[u8],
    max_output_bytes: usize,
) -> Result<(), RecordsError> {
    reserve_capped(out, bytes.len(), max_output_bytes)?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// Makes room for `additional` more bytes, refusing to pass `max_output_bytes` and growing the
/// capacity (doubling, for amortized appends) to at most `max_output_bytes`.
fn reserve_capped(
    out: &mut Vec<u8>,
    additional: usize,
    max_output_bytes: usize,
) -> Result<(), RecordsError> {
    let needed = out
        .len()
        .checked_add(additional)
        .filter(|&needed| needed <= max_output_bytes)
        .ok_or(RecordsError::DecompressedTooLarge {
            limit: max_output_bytes,
        })?;
    if needed > out.capacity() {
        let target = needed.max(out.capacity() * 2).min(max_output_bytes);
        out.reserve_exact(target - out.len());
    }
    Ok(())
}

fn decompress_snappy(input: &[u8], max_output_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    if input.starts_with(XERIAL_MAGIC) {
        return decompress_xerial(input, max_output_bytes);
    }
    let mut out = Vec::new();
    decompress_snappy_block(input, &mut out, max_output_bytes)?;
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its declared length against the cap first.
fn decompress_snappy_block(
    block: &[u8],
    out: &mut Vec<u8>,
    max_output_bytes: usize,
) -> Result<(), RecordsError> {
    let codec = Compression::Snappy;
    let length =
        snap::raw::decompress_len(block).map_err(|error| decompression_error(codec, &error))?;
    let start = out.len();
    reserve_capped(out, length, max_output_bytes)?;
    out.resize(start + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|error| decompression_error(codec, &error))?;
    out.truncate(start + written);
    Ok(())
}

/// Reads snappy-java's stream: a 16-byte header, then `[u32 BE length][raw snappy block]`
/// repeated. A header met again between blocks (concatenated streams) is skipped, as
/// snappy-java does.
fn decompress_xerial(input: &[u8], max_output_bytes: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(XERIAL_MAGIC) {
            if rest.len() < XERIAL_HEADER_BYTES {
                return Err(decompression_error(
                    codec,
                    &"truncated xerial stream header",
                ));
            }
            rest = &rest[XERIAL_HEADER_BYTES..];
            continue;
        }
        let Some((length, after_length)) = rest.split_first_chunk::<4>() else {
            return Err(decompression_error(codec, &"truncated xerial block length"));
        };
        let length = u32::from_be_bytes(*length) as usize;
        if length > after_length.len() {
            return Err(decompression_error(
                codec,
                &format_args!(
                    "xerial block of {length} bytes but only {} remain",
                    after_length.len()
                ),
            ));
        }
        let (block, after_block) = after_length.split_at(length);
        decompress_snappy_block(block, &mut out, max_output_bytes)?;
        rest = after_block;
    }
    Ok(out)
}

fn compress_xerial(input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out =
        Vec::with_capacity(XERIAL_HEADER_BYTES + snap::raw::max_compress_len(input.len()));
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_BYTES) {
        let compressed = encoder.compress_vec(block).map_err(io::Error::other)?;
        let length = u32::try_from(compressed.len()).map_err(io::Error::other)?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&compressed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
