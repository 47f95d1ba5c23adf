//! Fuzz target: any bytes as a request payload (a frame without its size prefix) through
//! `protocol::decode_request`.
//!
//! Checks: decoding never panics (libFuzzer's `-malloc_limit_mb`/`-rss_limit_mb` bound its
//! allocations); a request that decodes re-encodes with `encode_request`, and that encoding
//! decodes to an equal request (bytes may differ: a non-zero boolean byte re-encodes as 1).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = protocol::decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = protocol::encode_request(&request.header, &request.body)
        .unwrap_or_else(|e| panic!("a decoded request does not re-encode: {e}: {request:?}"));
    let again = protocol::decode_request(encoded)
        .unwrap_or_else(|e| panic!("a re-encoded request does not decode: {e}: {request:?}"));
    assert_eq!(again, request, "a re-encoded request decodes to another value");
});
