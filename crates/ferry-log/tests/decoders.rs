//! Decoders of bytes from the disk or the network never panic, whatever the bytes; and a log
//! whose segment holds garbage reports corruption instead of serving it.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::batch;
use ferry_log::fault::FaultyDisk;
use ferry_log::record::{decode_records, records_body};
use ferry_log::{BatchHeader, Log, LogConfig, ReadError, batches, validate_batch};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_batch_decoders(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = BatchHeader::parse(&bytes);
        let _ = validate_batch(&bytes);
        let _ = decode_records(&bytes);
        for item in batches(&bytes).take(100) {
            let _ = item;
        }
    }

    #[test]
    fn mutated_batches_never_panic_the_record_decoder(
        flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..8),
        records in 1usize..6,
    ) {
        let mut b = batch(records, 20, 7);
        for (at, value) in flips {
            let i = at % b.len();
            b[i] = value;
        }
        let _ = decode_records(&b);
        let _ = validate_batch(&b);
    }

    #[test]
    fn random_compressed_bodies_never_panic_the_codecs(
        codec in 1i16..6,
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut b = vec![0u8; 61];
        b[8..12].copy_from_slice(&(49 + body.len() as i32).to_be_bytes());
        b[16] = 2;
        b[21..23].copy_from_slice(&codec.to_be_bytes());
        b.extend_from_slice(&body);
        let _ = records_body(&b);
        let mut snappy = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        snappy.extend_from_slice(&body);
        b.truncate(61);
        b[8..12].copy_from_slice(&(49 + snappy.len() as i32).to_be_bytes());
        b[21..23].copy_from_slice(&2i16.to_be_bytes());
        b.extend_from_slice(&snappy);
        let _ = records_body(&b);
    }

    #[test]
    fn garbage_in_a_closed_segment_is_reported_not_served(
        at in 0usize..2000,
        garbage in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let dir = Path::new("/garbage");
        let disk = Arc::new(FaultyDisk::new(at as u64 + 1));
        let config = LogConfig { segment_bytes: 2048, index_interval_bytes: 300, ..LogConfig::default() };
        let log = Log::open_with(dir, config.clone(), disk.clone()).unwrap();
        let b = batch(1, 150, 3);
        for _ in 0..30 {
            log.append(&b).unwrap();
        }
        log.close().unwrap();
        let seg = dir.join(format!("{:020}.log", 0));
        let len = disk.contents(&seg).unwrap().len();
        for (i, g) in garbage.iter().enumerate() {
            let pos = ((at + i) % len) as u64;
            let old = disk.contents(&seg).unwrap()[pos as usize];
            for bit in 0..8 {
                if (old ^ g) & (1 << bit) != 0 {
                    disk.flip_bit(&seg, pos, bit).unwrap();
                }
            }
        }
        let damaged = disk.contents(&seg).unwrap();
        let log = Log::open_with(dir, config, disk.clone()).unwrap();
        let end = log.next_offset();
        let mut offset = 0;
        while offset < end {
            match log.read(offset, 4096, end) {
                Ok(r) => {
                    for item in batches(&r.bytes) {
                        let (h, bytes) = item.expect("whole batches");
                        validate_batch(bytes).expect("served batches pass their CRC");
                        prop_assert!(h.base_offset as u64 >= offset.saturating_sub(h.last_offset_delta as u64));
                    }
                    prop_assert!(r.next_offset > offset);
                    offset = r.next_offset;
                }
                Err(ReadError::Corrupt { segment, .. }) => {
                    prop_assert_eq!(segment, 0);
                    offset += 1;
                }
                Err(e) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
            }
        }
        prop_assert!(damaged.len() == len);
    }
}
