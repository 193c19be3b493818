//! The signature path: messages signed by real keys, then altered in any
//! field. A batch reaches exactly the verdicts of its messages checked one
//! by one; an untouched message verifies; an altered one never does.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use hypar::fuzzing::{sign, verify_batch, verify_one, Key};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Case {
    key: u8,
    seq: u64,
    time_ms: u64,
    payload: Vec<u8>,
    alter: Alteration,
}

#[derive(Debug, Arbitrary)]
enum Alteration {
    None,
    Payload(Vec<u8>),
    Seq(u64),
    Time(u64),
    SignatureByte(u8, u8),
    Signature(Vec<u8>),
    Origin(u8),
    Unsigned,
}

fuzz_target!(|cases: Vec<Case>| {
    let keys: Vec<Key> = (0..4).map(Key::from_seed).collect();
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for c in cases.into_iter().take(80) {
        let key = &keys[usize::from(c.key % 4)];
        let mut g = sign(key, c.seq, c.time_ms, Bytes::from(c.payload.clone()));
        let honest = match c.alter {
            Alteration::None => true,
            Alteration::Payload(p) => {
                let same = p == c.payload;
                g.payload = Bytes::from(p);
                same
            }
            Alteration::Seq(s) => {
                g.seq = s;
                s == c.seq
            }
            Alteration::Time(t) => {
                let same = t == c.time_ms;
                g.auth.as_mut().unwrap().time_ms = t;
                same
            }
            Alteration::SignatureByte(i, x) => {
                let auth = g.auth.as_mut().unwrap();
                let mut sig = auth.signature.to_vec();
                sig[usize::from(i % 64)] ^= x;
                auth.signature = Bytes::from(sig);
                x == 0
            }
            Alteration::Signature(s) => {
                g.auth.as_mut().unwrap().signature = Bytes::from(s);
                false
            }
            Alteration::Origin(k) => {
                g.origin = keys[usize::from(k % 4)].peer_id();
                g.origin == key.peer_id()
            }
            Alteration::Unsigned => {
                g.auth = None;
                false
            }
        };
        // (A random signature is valid with negligible probability.)
        let genuine = verify_one(&g);
        assert_eq!(genuine, honest, "verdict {genuine} on {g:?}");
        expected.push(genuine);
        messages.push(g);
    }
    assert_eq!(verify_batch(&messages), expected);
});
