//! Any bytes, read as one stream: the decoder never panics, never reads past
//! the frame it reports, and whatever it accepts encodes back (with its topic
//! and origin in full, so at most 32 + 10 + 1 bytes longer than a frame that
//! named both by index: a u64 peer id takes at most 10, and the length prefix
//! may grow by a byte; inside a body,
//! varints that are not in shortest form are accepted, as docs/PROTOCOL.md
//! says, and the encoder writes the shortest), and decodes again to the same
//! frame.
#![no_main]

use hypar_proto::wire;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut tables = wire::StreamTables::<u64>::default();
    let mut rest = data;
    loop {
        match tables.decode(rest, MAX) {
            Ok(Some((frame, used))) => {
                assert!(used <= rest.len());
                let mut again = Vec::new();
                wire::encode(&frame.topic, &frame.message, usize::MAX, &mut again).expect("a decoded frame encodes");
                assert!(again.len() <= used + 32 + 10 + 1, "re-encoded longer than it could have come");
                assert!(again.len() <= MAX, "accepted a frame whose names in full exceed the limit");
                let (twice, _) = wire::decode::<u64>(&again, MAX).unwrap().unwrap();
                assert_eq!(twice, frame);
                rest = &rest[used..];
            }
            Err(wire::WireError::BadFrame { size, .. }) => {
                assert!(size <= rest.len());
                rest = &rest[size..];
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = wire::decode_body::<u64>(data);
});
