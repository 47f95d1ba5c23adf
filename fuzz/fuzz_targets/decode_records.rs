//! Fuzz target: any bytes as a buffer of record batches, through the batch iterator (strict and
//! allowing a partial tail), the header view's accessors and CRC check, and
//! `records::decode_batch_records` with a 1 MiB decompression cap, iterating every record.
//!
//! Checks: nothing panics, and no input allocates past libFuzzer's limits (a decompression bomb
//! must stop at the cap).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protocol::records::{RecordBatches, decode_batch_records};

/// The decompressed bytes one batch may expand to.
const DECOMPRESSED_BYTES_MAX: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let buffer = Bytes::copy_from_slice(data);
    for batches in [
        RecordBatches::new(&buffer),
        RecordBatches::allowing_partial_tail(&buffer),
    ] {
        for batch in batches {
            let Ok(header) = batch else {
                break;
            };
            let _ = header.verify_crc();
            let _ = (
                header.last_offset(),
                header.compression(),
                header.timestamp_type(),
                header.is_transactional(),
                header.is_control(),
                header.has_delete_horizon(),
            );
            let Ok(records) = decode_batch_records(&header, &buffer, DECOMPRESSED_BYTES_MAX) else {
                continue;
            };
            for record in records {
                if record.is_err() {
                    break;
                }
            }
        }
    }
});
