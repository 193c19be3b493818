//! The signature path: messages signed by real keys, then altered in any
//! field. A batch reaches exactly the verdicts of its messages checked one
//! by one; an untouched message verifies; an altered one never does.
//! (The messages are signed once, up front: each run checks signatures, it
//! does not make them.)
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use hypar::fuzzing::{sign, verify_batch, verify_one, Key};
use hypar_proto::Gossip;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Case {
    message: u8,
    alter: Alteration,
}

#[derive(Debug, Arbitrary)]
enum Alteration {
    None,
    Payload(Vec<u8>),
    Seq(u64),
    Session(u64),
    Time(u64),
    SignatureByte(u8, u8),
    Signature(Vec<u8>),
    Origin(u8),
    Unsigned,
}

/// Four keys and a message signed by each.
fn signed() -> &'static (Vec<Key>, Vec<Gossip<hypar::PeerId>>) {
    static SIGNED: OnceLock<(Vec<Key>, Vec<Gossip<hypar::PeerId>>)> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let keys: Vec<Key> = (1..=4).map(Key::from_seed).collect();
        let messages = keys
            .iter()
            .enumerate()
            .map(|(i, k)| sign(k, i as u64 + 1, 1_767_225_600_000 + i as u64, Bytes::from(vec![i as u8; 3 * i])))
            .collect();
        (keys, messages)
    })
}

fuzz_target!(|cases: Vec<Case>| {
    let (keys, originals) = signed();
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for c in cases.into_iter().take(3) {
        let original = &originals[usize::from(c.message % 4)];
        let mut g = original.clone();
        let honest = match c.alter {
            Alteration::None => true,
            Alteration::Payload(p) => {
                g.payload = Bytes::from(p);
                g.payload == original.payload
            }
            Alteration::Seq(s) => {
                g.seq = s;
                g.seq == original.seq
            }
            Alteration::Session(s) => {
                g.session = s;
                g.session == original.session
            }
            Alteration::Time(t) => {
                g.auth.as_mut().unwrap().time_ms = t;
                g.auth == original.auth
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
                g.auth == original.auth
            }
            Alteration::Origin(k) => {
                g.origin = keys[usize::from(k % 4)].peer_id();
                g.origin == original.origin
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
