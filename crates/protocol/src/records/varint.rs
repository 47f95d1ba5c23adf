//! Zigzag varints and varlongs as the v2 record format writes them (Kafka's `ByteUtils`
//! `readVarint` / `readVarlong` / `writeVarint` / `writeVarlong`).
//!
//! Bounds: a varint is at most 5 bytes and a varlong at most 10; a longer encoding is an error,
//! as in Kafka. Like Kafka, bits past the 32nd (64th) in the last byte are dropped, not refused.

use super::RecordsError;

/// Longest encoding of a zigzag `i32`.
pub(crate) const VARINT_BYTES_MAX: usize = 5;
/// Longest encoding of a zigzag `i64`.
pub(crate) const VARLONG_BYTES_MAX: usize = 10;

/// Reads a zigzag varint at `*position`, advancing it past the varint.
pub(crate) fn read_varint(
    bytes: &[u8],
    position: &mut usize,
    field: &'static str,
) -> Result<i32, RecordsError> {
    let raw = read_unsigned(bytes, position, field, VARINT_BYTES_MAX)?;
    // Java keeps only the low 32 bits of a 5-byte varint.
    let raw = raw as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zigzag varlong at `*position`, advancing it past the varlong.
pub(crate) fn read_varlong(
    bytes: &[u8],
    position: &mut usize,
    field: &'static str,
) -> Result<i64, RecordsError> {
    let raw = read_unsigned(bytes, position, field, VARLONG_BYTES_MAX)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

fn read_unsigned(
    bytes: &[u8],
    position: &mut usize,
    field: &'static str,
    bytes_max: usize,
) -> Result<u64, RecordsError> {
    let mut value: u64 = 0;
    for index in 0..bytes_max {
        let Some(&byte) = bytes.get(*position + index) else {
            return Err(RecordsError::RecordTruncated {
                field,
                needed: index + 1,
                available: bytes.len().saturating_sub(*position),
            });
        };
        // The shift is at most 63; bits shifted past the top are dropped, as Java does.
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *position += index + 1;
            return Ok(value);
        }
    }
    Err(RecordsError::VarintTooLong { field, bytes_max })
}

/// Appends `value` as a zigzag varint.
pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zigzag varlong.
pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes `value` takes as a zigzag varint.
pub(crate) fn varint_size(value: i32) -> usize {
    unsigned_size(u64::from(((value << 1) ^ (value >> 31)) as u32))
}

/// Bytes `value` takes as a zigzag varlong.
pub(crate) fn varlong_size(value: i64) -> usize {
    unsigned_size(((value << 1) ^ (value >> 63)) as u64)
}

fn unsigned_size(mut raw: u64) -> usize {
    let mut size = 1;
    while raw >= 0x80 {
        raw >>= 7;
        size += 1;
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_kafka() {
        // Values and encodings from Kafka's ByteUtilsTest.
        let cases: [(i32, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, encoded) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out, encoded, "encoding {value}");
            let mut position = 0;
            assert_eq!(read_varint(encoded, &mut position, "test"), Ok(value));
            assert_eq!(position, encoded.len());
        }
    }

    #[test]
    fn too_long_varints_are_refused() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(
            read_varint(&six, &mut 0, "test"),
            Err(RecordsError::VarintTooLong {
                field: "test",
                bytes_max: 5
            })
        );
        let eleven = [0x80; 11];
        assert!(matches!(
            read_varlong(&eleven, &mut 0, "test"),
            Err(RecordsError::VarintTooLong { bytes_max: 10, .. })
        ));
    }

    #[test]
    fn truncated_varint_is_refused() {
        assert!(matches!(
            read_varint(&[0x80, 0x80], &mut 0, "test"),
            Err(RecordsError::RecordTruncated { .. })
        ));
        assert!(matches!(
            read_varlong(&[], &mut 0, "test"),
            Err(RecordsError::RecordTruncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value: i32) {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            prop_assert_eq!(out.len(), varint_size(value));
            let mut position = 0;
            prop_assert_eq!(read_varint(&out, &mut position, "test"), Ok(value));
            prop_assert_eq!(position, out.len());
        }

        #[test]
        fn varlong_round_trips(value: i64) {
            let mut out = Vec::new();
            write_varlong(&mut out, value);
            prop_assert_eq!(out.len(), varlong_size(value));
            let mut position = 0;
            prop_assert_eq!(read_varlong(&out, &mut position, "test"), Ok(value));
            prop_assert_eq!(position, out.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let mut position = 0;
            let _ = read_varint(&bytes, &mut position, "test");
            let mut position = 0;
            let _ = read_varlong(&bytes, &mut position, "test");
        }
    }
}
