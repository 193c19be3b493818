//! Any bytes: the decoder never panics, never reads past the frame it
//! reports, and whatever it accepts encodes back, no longer than it came
//! (inside a body, varints that are not in shortest form are accepted, as
//! docs/PROTOCOL.md says; the encoder writes the shortest), and decodes again
//! to the same frame.
#![no_main]

use hypar_proto::wire;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    match wire::decode::<u64>(data, MAX) {
        Ok(Some((frame, used))) => {
            assert!(used <= data.len());
            let mut again = Vec::new();
            wire::encode(&frame.topic, &frame.message, MAX, &mut again).expect("a decoded frame encodes");
            assert!(again.len() <= used, "re-encoded longer than it came");
            let (twice, _) = wire::decode::<u64>(&again, MAX).unwrap().unwrap();
            assert_eq!(twice, frame);
        }
        Ok(None) => {}
        Err(wire::WireError::BadFrame { size, .. }) => assert!(size <= data.len()),
        Err(_) => {}
    }
    let _ = wire::decode_body::<u64>(data);
});
