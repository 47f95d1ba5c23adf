//! The console's message browser: records of a hosted partition from an offset (or the first at
//! or after a timestamp), below the high watermark, as JSON with each key, value and header
//! shown as text (valid UTF-8), JSON (when it parses) and hex. Bounded: at most
//! [`RECORDS_MAX`] records and [`READ_BYTES`] read from the log per request.

use bytes::Bytes;
use protocol::records::{RecordBatches, decode_batch_records};
use serde_json::{Value, json};

use crate::error::BrokerError;
use crate::partitions::Partition;

/// Most records one browse returns.
pub const RECORDS_MAX: usize = 200;
/// Bytes read from the log for one browse.
const READ_BYTES: u64 = 4 << 20;
/// Largest decompressed batch read (decompression bombs).
const DECOMPRESSED_BYTES_MAX: usize = 16 << 20;
/// Bytes of a key or value shown (longer ones are cut and marked).
const SHOWN_BYTES_MAX: usize = 64 << 10;

/// Where to start reading.
pub enum Start {
    Offset(i64),
    Timestamp(i64),
}

/// Up to `limit` records of `partition` from `from`. Blocking file I/O.
pub fn browse(partition: &Partition, from: Start, limit: usize) -> Result<Value, BrokerError> {
    let limit = limit.clamp(1, RECORDS_MAX);
    let start = partition.log_start_offset()?;
    let high_watermark = partition.high_watermark()?;
    let offset = match from {
        Start::Offset(offset) => offset.max(start),
        Start::Timestamp(timestamp) => partition
            .offset_for_timestamp(timestamp)?
            .map_or(high_watermark, |found| found.offset),
    };
    let mut records = Vec::new();
    if offset < high_watermark {
        let data = partition.read(offset, READ_BYTES, high_watermark, true)?;
        if let Some(range) = data.records {
            let bytes = range
                .read_to_bytes()
                .map_err(|e| BrokerError::io("reading records for the console", e))?;
            'batches: for header in RecordBatches::allowing_partial_tail(&bytes) {
                let header = header.map_err(BrokerError::CorruptMessage)?;
                if header.is_control() || header.last_offset() < offset {
                    continue;
                }
                let decoded = decode_batch_records(&header, &bytes, DECOMPRESSED_BYTES_MAX)
                    .map_err(BrokerError::CorruptMessage)?;
                for record in decoded {
                    let record = record.map_err(BrokerError::CorruptMessage)?;
                    let at = header.base_offset() + i64::from(record.offset_delta);
                    if at < offset || at >= high_watermark {
                        continue;
                    }
                    records.push(json!({
                        "offset": at,
                        "timestamp": header.base_timestamp() + record.timestamp_delta,
                        "key": record.key.as_ref().map(shown),
                        "value": record.value.as_ref().map(shown),
                        "headers": record.headers.iter().map(|h| json!({
                            "key": String::from_utf8_lossy(&h.key),
                            "value": h.value.as_ref().map(shown),
                        })).collect::<Vec<_>>(),
                    }));
                    if records.len() >= limit {
                        break 'batches;
                    }
                }
            }
        }
    }
    Ok(json!({
        "topic": partition.topic_partition.topic,
        "partition": partition.topic_partition.partition,
        "log_start_offset": start,
        "high_watermark": high_watermark,
        "from_offset": offset,
        "records": records,
    }))
}

/// A key or value three ways: text when it is UTF-8, parsed JSON when it is JSON, and hex.
fn shown(bytes: &Bytes) -> Value {
    let cut = bytes.len() > SHOWN_BYTES_MAX;
    let bytes = &bytes[..bytes.len().min(SHOWN_BYTES_MAX)];
    let text = std::str::from_utf8(bytes).ok();
    let parsed = text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "text": text,
        "json": parsed,
        "hex": hex,
        "size": bytes.len(),
        "truncated": cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_as_text_json_and_hex() {
        let shown = shown(&Bytes::from_static(br#"{"price":3}"#));
        assert_eq!(shown["text"], r#"{"price":3}"#);
        assert_eq!(shown["json"]["price"], 3);
        assert_eq!(shown["hex"], "7b227072696365223a337d");
        let binary = super::shown(&Bytes::from_static(&[0xff, 0x00]));
        assert!(binary["text"].is_null() && binary["json"].is_null());
        assert_eq!(binary["hex"], "ff00");
    }
}
