//! Bad on-disk data around the segments must never panic the log or cost a valid batch:
//! arbitrary bytes in every checkpoint, index, time index and snapshot file, and stray files
//! with segment-like names. Property test: write a log, close it cleanly (so the indexes and
//! checkpoints exist), overwrite a random subset of the derived files with random bytes, reopen,
//! and expect every batch back and consistent indexes.

mod common;

use proptest::prelude::*;

use common::{batch, open, producer_batch, read_all};
use storage::LogConfig;

fn derived_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "log"))
        .collect();
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn garbage_in_derived_files_never_loses_a_batch(
        damage in proptest::collection::vec((any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..6),
        clean in any::<bool>(),
    ) {
        let dir = common::tempdir();
        let expected = {
            let log = open(dir.path(), LogConfig::for_tests());
            for i in 0..60 {
                log.append_as_leader(&mut batch(3, 150, i), (i / 20) as i32).unwrap();
                log.append_as_leader(&mut producer_batch(1, 3, 0, i as i32), (i / 20) as i32).unwrap();
            }
            let served = read_all(&log, 0, 1 << 20);
            if clean {
                log.close().unwrap();
            }
            served
        };
        let files = derived_files(dir.path());
        for (pick, bytes) in &damage {
            let path = pick.get(&files);
            std::fs::write(path, bytes).unwrap();
        }
        std::fs::write(dir.path().join("99999999999999999999.log"), b"not a segment").unwrap();
        std::fs::write(dir.path().join("00000000000000000abc.log"), b"nor this").unwrap();
        let log = open(dir.path(), LogConfig::for_tests());
        log.verify_consistency().unwrap();
        prop_assert_eq!(log.log_end_offset().unwrap(), 240);
        prop_assert_eq!(read_all(&log, 0, 1 << 20), expected);
        prop_assert!(log.append_as_leader(&mut producer_batch(1, 3, 0, 59), 2).unwrap().duplicate);
    }
}
