//! Bounded readers for Kafka's primitive types over `Bytes`.
//!
//! Each reader checks the bytes that remain before reading, so a short or lying input is a
//! `DecodeError`, never a panic. Byte fields are `Bytes` slices of the input (no copy); strings
//! are copied out, after their length was checked against what remains.

use bytes::{Buf, Bytes};

use super::{DecodeError, RawTaggedField, Uuid};

/// Fails unless `buf` holds at least `needed` more bytes.
#[inline]
pub fn ensure_remaining(buf: &Bytes, needed: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.len() < needed {
        return Err(DecodeError::Truncated {
            what,
            needed,
            remaining: buf.len(),
        });
    }
    Ok(())
}

macro_rules! fixed_reader {
    ($name:ident, $ty:ty, $get:ident, $len:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(buf: &mut Bytes) -> Result<$ty, DecodeError> {
            ensure_remaining(buf, $len, stringify!($ty))?;
            Ok(buf.$get())
        }
    };
}

fixed_reader!(read_i8, i8, get_i8, 1);
fixed_reader!(read_i16, i16, get_i16, 2);
fixed_reader!(read_u16, u16, get_u16, 2);
fixed_reader!(read_i32, i32, get_i32, 4);
fixed_reader!(read_u32, u32, get_u32, 4);
fixed_reader!(read_i64, i64, get_i64, 8);
fixed_reader!(read_f64, f64, get_f64, 8);

/// Reads a boolean: any non-zero byte is true, as in Kafka.
#[inline]
pub fn read_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? != 0)
}

/// Reads a UUID (16 bytes).
#[inline]
pub fn read_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    ensure_remaining(buf, 16, "uuid")?;
    let mut bytes = [0u8; 16];
    buf.copy_to_slice(&mut bytes);
    Ok(Uuid(bytes))
}

/// Reads an unsigned varint of at most 5 bytes (LEB128, as Kafka's `ByteUtils.readUnsignedVarint`).
#[inline]
pub fn read_unsigned_varint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for index in 0..5 {
        let byte = read_i8(buf)? as u8;
        if index == 4 && byte > 0x0f {
            return Err(DecodeError::VarintTooLong { max_bytes: 5 });
        }
        value |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { max_bytes: 5 })
}

/// Reads a zig-zag encoded signed varint (at most 5 bytes).
#[inline]
pub fn read_varint(buf: &mut Bytes) -> Result<i32, DecodeError> {
    let raw = read_unsigned_varint(buf)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zig-zag encoded signed varlong (at most 10 bytes).
#[inline]
pub fn read_varlong(buf: &mut Bytes) -> Result<i64, DecodeError> {
    let mut raw: u64 = 0;
    for index in 0..10 {
        let byte = read_i8(buf)? as u8;
        if index == 9 && byte > 0x01 {
            return Err(DecodeError::VarintTooLong { max_bytes: 10 });
        }
        raw |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err(DecodeError::VarintTooLong { max_bytes: 10 })
}

/// Reads the length of a string, bytes or array: `i16`/`i32` when not compact, unsigned varint
/// plus one when compact. `None` is null (-1, or 0 when compact).
#[inline]
fn read_length(
    buf: &mut Bytes,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let length: i64 = if compact {
        i64::from(read_unsigned_varint(buf)?) - 1
    } else if wide {
        i64::from(read_i32(buf)?)
    } else {
        i64::from(read_i16(buf)?)
    };
    match length {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::InvalidLength { what, length: n }),
        n => Ok(Some(n as usize)),
    }
}

fn take(buf: &mut Bytes, length: usize, what: &'static str) -> Result<Bytes, DecodeError> {
    ensure_remaining(buf, length, what)?;
    Ok(buf.split_to(length))
}

/// Reads a nullable string.
pub fn read_nullable_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    match read_length(buf, compact, false, what)? {
        None => Ok(None),
        Some(length) => {
            let bytes = take(buf, length, what)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::InvalidUtf8)?;
            Ok(Some(text.to_owned()))
        }
    }
}

/// Reads a string that must not be null at `version`.
pub fn read_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
    version: i16,
) -> Result<String, DecodeError> {
    read_nullable_string(buf, compact, what)?.ok_or(DecodeError::NullNotAllowed { what, version })
}

/// Reads nullable bytes as a slice of `buf` (no copy).
pub fn read_nullable_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<Bytes>, DecodeError> {
    match read_length(buf, compact, true, what)? {
        None => Ok(None),
        Some(length) => take(buf, length, what).map(Some),
    }
}

/// Reads bytes that must not be null at `version`, as a slice of `buf` (no copy).
pub fn read_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
    version: i16,
) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, compact, what)?.ok_or(DecodeError::NullNotAllowed { what, version })
}

/// Reads an array's element count; `None` is a null array. The count is refused unless
/// `count * min_element_len` bytes remain, so no caller allocates for elements that are not there.
pub fn read_array_length(
    buf: &mut Bytes,
    compact: bool,
    min_element_len: usize,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let Some(count) = read_length(buf, compact, true, what)? else {
        return Ok(None);
    };
    let needed = count.saturating_mul(min_element_len.max(1));
    if needed > buf.len() {
        return Err(DecodeError::CountTooLarge {
            what,
            count,
            needed,
            remaining: buf.len(),
        });
    }
    Ok(Some(count))
}

/// Reads the count of an array that must not be null at `version`.
pub fn read_non_null_array_length(
    buf: &mut Bytes,
    compact: bool,
    min_element_len: usize,
    what: &'static str,
    version: i16,
) -> Result<usize, DecodeError> {
    read_array_length(buf, compact, min_element_len, what)?
        .ok_or(DecodeError::NullNotAllowed { what, version })
}

/// A capacity to reserve for `count` elements already checked against the input: small enough
/// that a wide element type cannot turn a narrow encoding into a large allocation.
#[inline]
pub fn initial_capacity(count: usize) -> usize {
    count.min(64)
}

/// Reads the header of a tagged-field section: the number of tagged fields, each of which takes
/// at least two bytes (tag and size).
pub fn read_tagged_field_count(buf: &mut Bytes, what: &'static str) -> Result<usize, DecodeError> {
    let count = read_unsigned_varint(buf)? as usize;
    let needed = count.saturating_mul(2);
    if needed > buf.len() {
        return Err(DecodeError::CountTooLarge {
            what,
            count,
            needed,
            remaining: buf.len(),
        });
    }
    Ok(count)
}

/// Reads one tagged field's tag and payload (a slice of `buf`).
pub fn read_tagged_field(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<RawTaggedField, DecodeError> {
    let tag = read_unsigned_varint(buf)?;
    let size = read_unsigned_varint(buf)? as usize;
    let data = take(buf, size, what)?;
    Ok(RawTaggedField { tag, data })
}

/// Fails if a known tagged field's payload was not consumed exactly.
pub fn finish_tagged_field(data: &Bytes, tag: u32, what: &'static str) -> Result<(), DecodeError> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TaggedFieldTrailingBytes {
            what,
            tag,
            unread: data.len(),
        })
    }
}

/// Reads the presence marker of a nullable struct: -1 for null, anything else for present.
pub fn read_struct_presence(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? >= 0)
}

/// Fails unless `version` lies in `min..=max`.
pub fn check_version(
    what: &'static str,
    version: i16,
    (min, max): (i16, i16),
) -> Result<(), DecodeError> {
    if version < min || version > max {
        return Err(DecodeError::UnsupportedVersion {
            what,
            version,
            min,
            max,
        });
    }
    Ok(())
}
