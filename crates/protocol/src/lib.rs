//! The Kafka wire codec: request and response types generated from Kafka's message specs,
//! bounded decoding of every length and count, and record batch views that keep record bytes
//! as opaque `Bytes` slices of the received frame. This crate does no I/O.

pub mod records;
