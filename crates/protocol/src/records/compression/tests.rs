//! Unit and property tests of compression round trips, snappy framing detection and the
//! decompression cap. The 100 MiB bomb tests, which measure memory, are in
//! `tests/records_compression_bombs.rs`.

use super::*;
use proptest::prelude::*;

const ALL_CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn sample(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect()
}

#[test]
fn every_codec_round_trips() {
    for codec in ALL_CODECS {
        for size in [
            0,
            1,
            100,
            XERIAL_BLOCK_BYTES,
            3 * XERIAL_BLOCK_BYTES + 17,
            300_000,
        ] {
            let input = sample(size);
            let compressed = compress(codec, &input).expect("compresses");
            let output = decompress(codec, &compressed, size).expect("decompresses within cap");
            assert_eq!(output, input, "{codec} with {size} bytes");
        }
    }
}

#[test]
fn output_of_exactly_the_cap_is_accepted_and_one_more_byte_is_not() {
    for codec in ALL_CODECS {
        let input = sample(10_000);
        let compressed = compress(codec, &input).expect("compresses");
        assert!(decompress(codec, &compressed, 10_000).is_ok(), "{codec}");
        assert_eq!(
            decompress(codec, &compressed, 9_999),
            Err(RecordsError::DecompressedTooLarge { limit: 9_999 }),
            "{codec}"
        );
    }
}

#[test]
fn snappy_writes_xerial_framing_like_snappy_java() {
    let compressed = compress(Compression::Snappy, b"hello").expect("compresses");
    assert_eq!(&compressed[..8], XERIAL_MAGIC);
    assert_eq!(&compressed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
    let block_length = u32::from_be_bytes(compressed[16..20].try_into().expect("4 bytes"));
    assert_eq!(block_length as usize, compressed.len() - 20);
}

#[test]
fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
    let input = sample(50_000);
    let raw = snap::raw::Encoder::new()
        .compress_vec(&input)
        .expect("compresses");
    assert_eq!(decompress(Compression::Snappy, &raw, 50_000), Ok(input));
    // The raw block's declared length is checked before any output is allocated.
    assert_eq!(
        decompress(Compression::Snappy, &raw, 49_999),
        Err(RecordsError::DecompressedTooLarge { limit: 49_999 })
    );
}

#[test]
fn snappy_reads_concatenated_xerial_streams() {
    let mut both = compress(Compression::Snappy, b"first ").expect("compresses");
    both.extend(compress(Compression::Snappy, b"second").expect("compresses"));
    assert_eq!(
        decompress(Compression::Snappy, &both, 100),
        Ok(b"first second".to_vec())
    );
}

#[test]
fn xerial_block_lengths_past_the_end_are_refused() {
    let mut stream = compress(Compression::Snappy, b"hello").expect("compresses");
    stream[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decompress(Compression::Snappy, &stream, 100),
        Err(RecordsError::Decompression {
            codec: Compression::Snappy,
            ..
        })
    ));
    // A header cut short.
    assert!(matches!(
        decompress(Compression::Snappy, &stream[..12], 100),
        Err(RecordsError::Decompression { .. })
    ));
}

#[test]
fn lz4_frames_with_a_wrong_header_checksum_are_refused() {
    // KIP-57: magic-v2 batches carry a correct frame header checksum. Byte 6 is the header
    // checksum of a frame without content size.
    let mut frame = compress(Compression::Lz4, b"hello hello hello").expect("compresses");
    frame[6] ^= 0xff;
    assert!(matches!(
        decompress(Compression::Lz4, &frame, 100),
        Err(RecordsError::Decompression {
            codec: Compression::Lz4,
            ..
        })
    ));
}

#[test]
fn garbage_is_an_error_for_every_codec() {
    let garbage = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03];
    for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        assert!(
            matches!(
                decompress(codec, &garbage, 1000),
                Err(RecordsError::Decompression { .. })
            ),
            "{codec}"
        );
    }
}

#[test]
fn zstd_window_limit_follows_the_cap() {
    assert_eq!(zstd_window_log_max(1 << 20), 23);
    assert_eq!(zstd_window_log_max((1 << 24) + 1), 25);
    assert_eq!(zstd_window_log_max(usize::MAX), 27);
    assert_eq!(zstd_window_log_max(0), 23);
}

#[test]
fn append_capped_never_reserves_past_the_cap() {
    let mut out = Vec::new();
    for _ in 0..10 {
        append_capped(&mut out, &[7; 1000], 10_000).expect("within cap");
        assert!(out.capacity() <= 10_000);
    }
    assert_eq!(
        append_capped(&mut out, &[7], 10_000),
        Err(RecordsError::DecompressedTooLarge { limit: 10_000 })
    );
}

#[test]
fn xerial_output_never_reserves_past_the_cap() {
    let input = sample(20 * XERIAL_BLOCK_BYTES);
    let compressed = compress(Compression::Snappy, &input).expect("compresses");
    let output = decompress(Compression::Snappy, &compressed, input.len()).expect("fits");
    assert!(output.capacity() <= input.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..4096),
        codec in prop::sample::select(ALL_CODECS.to_vec()),
    ) {
        let compressed = compress(codec, &input).expect("compresses");
        prop_assert_eq!(decompress(codec, &compressed, input.len()), Ok(input));
    }

    #[test]
    fn arbitrary_input_never_panics(
        input in prop::collection::vec(any::<u8>(), 0..512),
        codec in prop::sample::select(ALL_CODECS.to_vec()),
    ) {
        if let Ok(output) = decompress(codec, &input, 4096) {
            prop_assert!(output.len() <= 4096);
        }
    }

    #[test]
    fn mutated_streams_never_panic_or_pass_the_cap(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        codec in prop::sample::select(ALL_CODECS.to_vec()),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<prop::sample::Index>(),
    ) {
        let mut compressed = compress(codec, &input).expect("compresses");
        if !compressed.is_empty() {
            for (index, byte) in flips {
                let at = index.index(compressed.len());
                compressed[at] ^= byte;
            }
        }
        compressed.truncate(truncate.index(compressed.len() + 1));
        if let Ok(output) = decompress(codec, &compressed, 4096) {
            prop_assert!(output.len() <= 4096);
        }
    }
}
