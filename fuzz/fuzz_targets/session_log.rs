//! Arbitrary bytes through the capture log's decoder (`store::logfmt`): as
//! one record's body, and as a whole log after a valid header. Decoding
//! never panics; a body that decodes encodes back to one that decodes to
//! the same record.
#![no_main]

use dflow_logfmt::logfmt::{self, LogReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A record body is what passed its checksum: the decoder's whole input.
    if let Ok(record) = logfmt::decode(data) {
        let mut again = Vec::new();
        logfmt::put_any_record(&mut again, &record);
        let back = logfmt::decode(&again[8..]).expect("an encoded record decodes");
        assert_eq!(format!("{back:?}"), format!("{record:?}"), "round trip");
    }
    // The same bytes as the records of a log: lengths, checksums, a cut end.
    let mut log = Vec::new();
    logfmt::put_header(&mut log, 1);
    log.extend_from_slice(data);
    let mut reader = LogReader::new(log.as_slice()).expect("a valid header");
    while let Ok(Some(_)) = reader.next_record() {}
});
