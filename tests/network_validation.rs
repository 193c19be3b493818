//! Signed topics and application validators, between real nodes on
//! loopback: who wrote a message is known, and what a validator refuses is
//! neither delivered nor relayed.

mod common_net;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common_net::{node, wait_neighbor, TCP};
use hypar::{topic, Network, PeerId, Topic, Verdict};
use tokio::time::timeout;

/// The judge of every test: payloads starting with `bad` are rejected,
/// `meh` ignored, `panic` panic the validator, `slow` never answer; the rest
/// are accepted.
async fn judge(payload: bytes::Bytes) -> Verdict {
    if payload.starts_with(b"bad") {
        Verdict::Reject
    } else if payload.starts_with(b"meh") {
        Verdict::Ignore
    } else if payload.starts_with(b"panic") {
        panic!("a validator that panics");
    } else if payload.starts_with(b"slow") {
        futures::future::pending::<()>().await;
        unreachable!()
    } else {
        Verdict::Accept
    }
}

/// The next payload of `topic`, within 20 s.
async fn next(topic: &mut Topic) -> hypar::Received {
    timeout(Duration::from_secs(20), topic.recv_with_hops()).await.expect("nothing arrived").expect("stream ended")
}

fn only(peers: &[PeerId]) -> Option<BTreeSet<PeerId>> {
    Some(peers.iter().copied().collect())
}

/// A line P - V - W (allow lists keep P and W apart): P publishes, V
/// validates, W receives only what V relays.
struct Line {
    nets: [Network; 3],
    topics: [Topic; 3],
}

async fn line(name: &str, validate: bool, calls: Arc<AtomicUsize>) -> Line {
    let (p, v, w) = (node(TCP), node(TCP), node(TCP));
    let mut v_events = v.events();
    let mut config = topic::Config::new(name, vec![]);
    config.protocol.plumtree.validation_timeout = Duration::from_millis(500);
    let mut vc = config.clone();
    if validate {
        vc = vc.with_validator(move |m| {
            calls.fetch_add(1, Ordering::SeqCst);
            judge(m.payload)
        });
    }
    let vt = v.join(vc).unwrap();
    let mut pc = config.clone();
    pc.bootstrap = v.listen_addrs();
    pc.protocol.allowed_peers = only(&[v.peer_id()]);
    let pt = p.join(pc).unwrap();
    wait_neighbor(&mut v_events).await;
    let mut wc = config;
    wc.bootstrap = v.listen_addrs();
    wc.protocol.allowed_peers = only(&[v.peer_id()]);
    let wt = w.join(wc).unwrap();
    wait_neighbor(&mut v_events).await;
    Line { nets: [p, v, w], topics: [pt, vt, wt] }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_messages_name_their_origin_at_every_hop() {
    let Line { nets, mut topics } = line("signed-origin", false, Arc::default()).await;
    topics[0].gossip(b"hello".to_vec()).unwrap();
    for (t, hops) in topics[1..].iter_mut().zip([1, 2]) {
        let m = next(t).await;
        assert_eq!((&m.payload[..], m.origin, m.hops), (&b"hello"[..], Some(nets[0].peer_id()), hops));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_topics_name_no_origin() {
    let (a, b) = (node(TCP), node(TCP));
    let mut events = a.events();
    let _ta = a.join(topic::Config::new("unsigned", vec![]).signed(false)).unwrap();
    let mut tb = b.join(topic::Config::new("unsigned", a.listen_addrs()).signed(false)).unwrap();
    wait_neighbor(&mut events).await;
    _ta.gossip(b"anon".to_vec()).unwrap();
    let m = next(&mut tb).await;
    assert_eq!((&m.payload[..], m.origin), (&b"anon"[..], None));
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_validator_refuses_is_neither_delivered_nor_relayed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let Line { nets, mut topics } = line("validated", true, calls.clone()).await;
    // Each refused kind, then one accepted message: in order on P's link to
    // V, and V's verdicts come back in order for messages judged at once,
    // so once "good" arrives the others were judged.
    for payload in ["bad 1", "meh 1", "panic 1", "good 1"] {
        topics[0].gossip(payload.as_bytes().to_vec()).unwrap();
    }
    assert_eq!(&next(&mut topics[1]).await.payload[..], b"good 1");
    assert_eq!(&next(&mut topics[2]).await.payload[..], b"good 1");
    let v = nets[1].stats_async().await.unwrap().topics.remove(0);
    assert_eq!((v.delivered, v.rejected, v.ignored), (1, 1, 2), "{v:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // A validator that never answers is cut off (Ignore) and holds nothing
    // else up for longer than that.
    topics[0].gossip(b"slow 1".to_vec()).unwrap();
    topics[0].gossip(b"good 2".to_vec()).unwrap();
    assert_eq!(&next(&mut topics[1]).await.payload[..], b"good 2");
    assert_eq!(&next(&mut topics[2]).await.payload[..], b"good 2");
    timeout(Duration::from_secs(10), async {
        while nets[1].stats_async().await.unwrap().topics[0].ignored < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the silent validator was never cut off");
    // Nothing else was delivered anywhere.
    assert!(topics[1].try_recv().is_none() && topics[2].try_recv().is_none());
    let w = nets[2].stats_async().await.unwrap().topics.remove(0);
    assert_eq!((w.delivered, w.rejected, w.ignored, w.forged), (2, 0, 0, 0), "{w:?}");
}
