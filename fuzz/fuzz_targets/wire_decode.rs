//! Any bytes, read as one stream: the decoder never panics, never reads past
//! the frame it reports, and whatever it accepts encodes back (with the topic
//! in full, so at most 32 bytes longer than a frame that named its topic by
//! index; inside a body, varints that are not in shortest form are accepted,
//! as docs/PROTOCOL.md says, and the encoder writes the shortest), and decodes
//! again to the same frame.
#![no_main]

use hypar_proto::wire;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut topics = wire::TopicTable::default();
    let mut rest = data;
    loop {
        match topics.decode::<u64>(rest, MAX) {
            Ok(Some((frame, used))) => {
                assert!(used <= rest.len());
                let mut again = Vec::new();
                wire::encode(&frame.topic, &frame.message, MAX, &mut again).expect("a decoded frame encodes");
                assert!(again.len() <= used + 32, "re-encoded longer than it came");
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
