//! Control records for transactions: the control record key (`version i16, type i16`), Kafka's
//! `EndTransactionMarker` value (`version i16, coordinatorEpoch i32`), and the control batch that
//! carries one marker (what `WriteTxnMarkers` appends to each partition of a transaction).
//!
//! Not owned here: the KRaft control records (leader change, snapshot header/footer, voters),
//! which the metadata log handles; their types are still recognized by `ControlRecordType`.

use bytes::Bytes;

use super::{Record, RecordBatchBuilder, RecordsError};

/// The control record key and marker value versions Kafka writes.
const CONTROL_RECORD_KEY_VERSION: i16 = 0;
const END_TRANSACTION_MARKER_VERSION: i16 = 0;
const CONTROL_RECORD_KEY_BYTES: usize = 4;
const END_TRANSACTION_MARKER_VALUE_BYTES: usize = 6;

/// The type in a control record's key (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
    LeaderChange,
    SnapshotHeader,
    SnapshotFooter,
    KRaftVersion,
    KRaftVoters,
}

impl ControlRecordType {
    /// The id written in the key.
    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::LeaderChange => 2,
            Self::SnapshotHeader => 3,
            Self::SnapshotFooter => 4,
            Self::KRaftVersion => 5,
            Self::KRaftVoters => 6,
        }
    }

    /// The type for an id, or `None` for one this broker does not know.
    pub fn from_id(id: i16) -> Option<Self> {
        Some(match id {
            0 => Self::Abort,
            1 => Self::Commit,
            2 => Self::LeaderChange,
            3 => Self::SnapshotHeader,
            4 => Self::SnapshotFooter,
            5 => Self::KRaftVersion,
            6 => Self::KRaftVoters,
            _ => return None,
        })
    }

    /// The control record key: version 0 and this type.
    pub fn key(self) -> Bytes {
        let mut key = Vec::with_capacity(CONTROL_RECORD_KEY_BYTES);
        key.extend_from_slice(&CONTROL_RECORD_KEY_VERSION.to_be_bytes());
        key.extend_from_slice(&self.id().to_be_bytes());
        Bytes::from(key)
    }

    /// Reads a control record key. Like Kafka, a newer key version is read as version 0 (its
    /// first two fields keep their meaning).
    pub fn parse_key(key: &[u8]) -> Result<Self, RecordsError> {
        let Some((version, rest)) = key.split_first_chunk::<2>() else {
            return Err(invalid("control record key shorter than 4 bytes"));
        };
        if i16::from_be_bytes(*version) < 0 {
            return Err(invalid("negative control record key version"));
        }
        let Some((id, _)) = rest.split_first_chunk::<2>() else {
            return Err(invalid("control record key shorter than 4 bytes"));
        };
        let id = i16::from_be_bytes(*id);
        Self::from_id(id).ok_or(RecordsError::UnknownControlRecordType { id })
    }
}

/// The marker that ends a transaction on a partition: commit or abort, written by the
/// transaction coordinator of the given epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    /// `Commit` or `Abort`.
    pub control_type: ControlRecordType,
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// The marker record's value: version 0 and the coordinator epoch.
    pub fn value(&self) -> Bytes {
        let mut value = Vec::with_capacity(END_TRANSACTION_MARKER_VALUE_BYTES);
        value.extend_from_slice(&END_TRANSACTION_MARKER_VERSION.to_be_bytes());
        value.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        Bytes::from(value)
    }

    /// Reads a marker from a control record's key and value. Like Kafka, a newer value version
    /// is read as version 0.
    pub fn parse(key: &[u8], value: &[u8]) -> Result<Self, RecordsError> {
        let control_type = ControlRecordType::parse_key(key)?;
        if !matches!(
            control_type,
            ControlRecordType::Commit | ControlRecordType::Abort
        ) {
            return Err(invalid("control record is not a transaction marker"));
        }
        let Some((version, rest)) = value.split_first_chunk::<2>() else {
            return Err(invalid("transaction marker value shorter than 6 bytes"));
        };
        if i16::from_be_bytes(*version) < 0 {
            return Err(invalid("negative transaction marker value version"));
        }
        let Some((epoch, _)) = rest.split_first_chunk::<4>() else {
            return Err(invalid("transaction marker value shorter than 6 bytes"));
        };
        Ok(Self {
            control_type,
            coordinator_epoch: i32::from_be_bytes(*epoch),
        })
    }

    /// The one record of a marker's control batch.
    pub fn record(&self) -> Record {
        Record {
            offset_delta: 0,
            timestamp_delta: 0,
            key: Some(self.control_type.key()),
            value: Some(self.value()),
            headers: Vec::new(),
        }
    }
}

/// Builds the control batch that carries `marker` for a producer's transaction: transactional
/// and control attributes, no sequence, one record at `base_offset` with `timestamp`, as
/// Kafka's `MemoryRecords.withEndTransactionMarker` writes it.
pub fn end_transaction_marker_batch(
    base_offset: i64,
    timestamp: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    marker: EndTransactionMarker,
) -> Result<Bytes, RecordsError> {
    let mut builder = RecordBatchBuilder::new()
        .base_offset(base_offset)
        .partition_leader_epoch(partition_leader_epoch)
        .producer(producer_id, producer_epoch, super::NO_SEQUENCE)
        .base_timestamp(timestamp)
        .transactional(true)
        .control(true);
    builder.push(marker.record())?;
    builder.build()
}

fn invalid(reason: &'static str) -> RecordsError {
    RecordsError::InvalidControlRecord { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{RecordBatchHeader, Records};

    #[test]
    fn marker_batch_matches_kafka_layout() {
        // Goal: the batch WriteTxnMarkers appends, as Kafka's EndTransactionMarker writes it.
        let marker = EndTransactionMarker {
            control_type: ControlRecordType::Commit,
            coordinator_epoch: 7,
        };
        let batch = end_transaction_marker_batch(100, 1_700_000_000_000, 3, 4242, 5, marker)
            .expect("builds");
        let header = RecordBatchHeader::parse(&batch).expect("parses");
        header.verify_crc().expect("CRC");
        assert!(header.is_control() && header.is_transactional());
        assert_eq!(header.attributes(), 0x30);
        assert_eq!(header.base_offset(), 100);
        assert_eq!(header.partition_leader_epoch(), 3);
        assert_eq!(header.producer_id(), 4242);
        assert_eq!(header.producer_epoch(), 5);
        assert_eq!(header.base_sequence(), -1);
        assert_eq!(header.records_count(), 1);
        assert_eq!(header.last_offset_delta(), 0);
        assert_eq!(header.max_timestamp(), 1_700_000_000_000);

        let records: Vec<Record> = Records::new(
            Bytes::copy_from_slice(header.records_bytes()),
            header.records_count(),
        )
        .collect::<Result<_, _>>()
        .expect("records");
        let record = &records[0];
        assert_eq!(record.key.as_deref(), Some(&[0, 0, 0, 1][..]));
        assert_eq!(record.value.as_deref(), Some(&[0, 0, 0, 0, 0, 7][..]));
        let key = record.key.as_deref().unwrap_or_default();
        let value = record.value.as_deref().unwrap_or_default();
        assert_eq!(EndTransactionMarker::parse(key, value), Ok(marker));
    }

    #[test]
    fn abort_key_is_type_zero() {
        assert_eq!(ControlRecordType::Abort.key().as_ref(), &[0, 0, 0, 0]);
    }

    #[test]
    fn malformed_markers_are_refused() {
        assert!(matches!(
            ControlRecordType::parse_key(&[0, 0, 0]),
            Err(RecordsError::InvalidControlRecord { .. })
        ));
        assert_eq!(
            ControlRecordType::parse_key(&[0, 0, 0, 99]),
            Err(RecordsError::UnknownControlRecordType { id: 99 })
        );
        assert!(matches!(
            EndTransactionMarker::parse(&[0, 0, 0, 1], &[0, 0, 0, 0, 7]),
            Err(RecordsError::InvalidControlRecord { .. })
        ));
        assert!(matches!(
            EndTransactionMarker::parse(&[0, 0, 0, 2], &[0, 0, 0, 0, 0, 7]),
            Err(RecordsError::InvalidControlRecord { .. })
        ));
        // A newer key version still reads (Kafka's forward compatibility).
        assert_eq!(
            ControlRecordType::parse_key(&[0, 1, 0, 0, 0xff]),
            Ok(ControlRecordType::Abort)
        );
    }
}
