//! Every message type at every version the specs define: random values (seeded, only fields
//! that exist at that version) encode, decode to the same value, and re-encode to the same bytes.
//! Also: a truncated encoding never decodes, and a request frame round-trips with its header.

use bytes::Bytes;
use protocol::codec::testing::TestRng;
use protocol::generated::{RequestHeader, ResponseHeader};
use protocol::{ApiKey, Encoder, Message, RequestBody, ResponseBody};

const VALUES_PER_VERSION: u64 = 40;

fn encode<F: FnOnce(&mut Encoder) -> Result<(), protocol::EncodeError>>(write: F) -> Bytes {
    let mut encoder = Encoder::new();
    write(&mut encoder).expect("random values encode");
    encoder.finish().expect("no file regions")
}

#[test]
fn every_request_and_response_round_trips_at_every_version() {
    let mut checked = 0;
    for &api_key in ApiKey::ALL {
        let (min, max) = api_key.versions();
        for version in min..=max {
            for seed in 0..VALUES_PER_VERSION {
                let mut rng = TestRng::new(seed * 7919 + api_key as u64 * 31 + version as u64);
                let request = RequestBody::random(api_key, &mut rng, version);
                let bytes = encode(|e| request.encode(e, version));
                let mut buf = bytes.clone();
                let decoded = RequestBody::decode(api_key, &mut buf, version)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version} seed {seed}: {e}"));
                assert!(buf.is_empty(), "{api_key:?} v{version}: bytes left over");
                assert_eq!(
                    decoded, request,
                    "{api_key:?} request v{version} seed {seed}"
                );
                assert_eq!(encode(|e| decoded.encode(e, version)), bytes);

                let response = ResponseBody::random(api_key, &mut rng, version);
                let bytes = encode(|e| response.encode(e, version));
                let mut buf = bytes.clone();
                let decoded = ResponseBody::decode(api_key, &mut buf, version)
                    .unwrap_or_else(|e| panic!("{api_key:?} response v{version} seed {seed}: {e}"));
                assert!(buf.is_empty());
                assert_eq!(
                    decoded, response,
                    "{api_key:?} response v{version} seed {seed}"
                );
                assert_eq!(encode(|e| decoded.encode(e, version)), bytes);
                checked += 2;
            }
        }
    }
    assert!(checked > 10_000, "checked {checked}");
}

#[test]
fn truncated_encodings_are_errors_not_panics() {
    for &api_key in ApiKey::ALL {
        let (min, max) = api_key.versions();
        for version in min..=max {
            let mut rng = TestRng::new(api_key as u64 ^ (version as u64) << 8);
            let request = RequestBody::random(api_key, &mut rng, version);
            let bytes = encode(|e| request.encode(e, version));
            for cut in 0..bytes.len() {
                let mut buf = bytes.slice(..cut);
                // A prefix may decode when the tail was optional-looking; it must never panic,
                // and when it decodes it cannot be the full value.
                if let Ok(decoded) = RequestBody::decode(api_key, &mut buf, version) {
                    assert_ne!(decoded, request, "{api_key:?} v{version} cut {cut}");
                }
            }
        }
    }
}

#[test]
fn headers_round_trip_at_every_version() {
    for version in 0..=2 {
        for seed in 0..50 {
            let mut rng = TestRng::new(seed);
            let header = RequestHeader::random(&mut rng, version);
            let bytes = encode(|e| header.encode(e, version));
            let decoded = RequestHeader::decode(&mut bytes.clone(), version).unwrap();
            assert_eq!(decoded, header);
        }
    }
    for version in 0..=1 {
        for seed in 0..50 {
            let mut rng = TestRng::new(seed);
            let header = ResponseHeader::random(&mut rng, version);
            let bytes = encode(|e| header.encode(e, version));
            assert_eq!(
                ResponseHeader::decode(&mut bytes.clone(), version).unwrap(),
                header
            );
        }
    }
}

#[test]
fn whole_request_frames_round_trip() {
    for &api_key in ApiKey::ALL {
        let (min, max) = api_key.versions();
        for version in min..=max {
            let mut rng = TestRng::new(99 + version as u64);
            let header_version = api_key.request_header_version(version);
            let mut header = RequestHeader::random(&mut rng, header_version);
            header.request_api_key = api_key as i16;
            header.request_api_version = version;
            let body = RequestBody::random(api_key, &mut rng, version);
            let payload = protocol::encode_request(&header, &body).unwrap();
            let request = protocol::decode_request(payload.clone()).unwrap();
            assert_eq!(request.header, header);
            assert_eq!(request.body, body);
        }
    }
}

#[test]
fn unknown_api_keys_and_versions_are_refused() {
    let mut payload = vec![0x7f, 0x00, 0x00, 0x00, 0, 0, 0, 1];
    payload.extend_from_slice(&[0xff, 0xff]);
    assert!(matches!(
        protocol::decode_request(Bytes::from(payload)),
        Err(protocol::DecodeError::UnknownApiKey { api_key: 0x7f00 })
    ));
    let payload = vec![0x00, 0x03, 0x7f, 0x00, 0, 0, 0, 1];
    assert!(matches!(
        protocol::decode_request(Bytes::from(payload)),
        Err(protocol::DecodeError::UnsupportedVersion { .. })
    ));
}

#[test]
fn tagged_fields_are_written_only_when_they_differ_from_their_default() {
    // ApiVersions v3 response: FinalizedFeaturesEpoch (tag 1, default -1) must not be written
    // with its default (librdkafka 2.0.2 fails on it, see docs/internals/protocol.md).
    let response = protocol::generated::ApiVersionsResponse::default();
    let bytes = encode(|e| response.encode(e, 3));
    // error_code(2) + api_keys compact array (1) + throttle(4) + tagged count (1)
    assert_eq!(bytes.as_ref(), &[0, 0, 1, 0, 0, 0, 0, 0]);
    let with_epoch = protocol::generated::ApiVersionsResponse {
        finalized_features_epoch: 5,
        ..Default::default()
    };
    let bytes = encode(|e| with_epoch.encode(e, 3));
    assert_eq!(bytes[7], 1, "one tagged field");
}
