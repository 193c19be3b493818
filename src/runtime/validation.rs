//! Signature checks and the validation thread. Held messages
//! ([`Output::Validate`]) of a topic without a validator are checked on the
//! network thread, in batches ([`Keys::verify_all`]); a trip to another
//! thread and back would cost more than the check. Those of a topic with
//! one come here, to the validation thread, off the network thread: it
//! checks signatures, then runs the topic's validator (an async function,
//! cut off at the topic's `validation_timeout`; one that panics counts as
//! Ignore), and sends each verdict back to the network thread as
//! [`Command::Validated`].
//!
//! The queue to it needs no bound of its own: the protocol holds at most
//! `max_pending` messages per topic, and each has at most one job here.
//!
//! [`Output::Validate`]: hypar_proto::Output::Validate

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use futures::FutureExt;
use hypar_proto::{wire, Gossip, TopicId, Validation};
use libp2p::identity::PublicKey;
use libp2p::PeerId;
use sha2::{Digest, Sha512};
use tokio::sync::mpsc;

use super::{Command, Inbound};
use crate::{Error, FastMap};

/// A topic's application validator, as the runtime runs it.
pub(crate) type ValidatorFn = Arc<dyn Fn(Inbound) -> Pin<Box<dyn Future<Output = Validation> + Send>> + Send + Sync>;

/// One held message to judge.
pub(crate) struct Job {
    pub topic: TopicId,
    /// The neighbour it came from.
    pub from: PeerId,
    pub message: Gossip<PeerId>,
    /// The topic is signed: verify the signature first.
    pub signed: bool,
    pub validator: Option<ValidatorFn>,
    pub timeout: Duration,
}

/// Start the validation thread of node `name`; verdicts go to `commands`.
/// The thread ends once the returned sender is dropped.
pub(crate) fn start(name: &str, commands: mpsc::UnboundedSender<Command>) -> Result<mpsc::UnboundedSender<Job>, Error> {
    let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    std::thread::Builder::new()
        .name(format!("{name}-validate"))
        .spawn(move || {
            runtime.block_on(async move {
                let mut keys = Keys::default();
                let mut batch = Vec::with_capacity(BATCH);
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    let genuine = keys.verify_all(&batch);
                    for (job, genuine) in batch.drain(..).zip(genuine) {
                        let (topic, id, from) = (job.topic, job.message.id, job.from);
                        let commands = commands.clone();
                        if !genuine {
                            let _ = commands.send(Command::Validated { topic, id, from, verdict: Validation::Forged });
                        } else if job.validator.is_none() {
                            let _ = commands.send(Command::Validated { topic, id, from, verdict: Validation::Accept });
                        } else {
                            tokio::spawn(async move {
                                let verdict = run_validator(job).await;
                                let _ = commands.send(Command::Validated { topic, id, from, verdict });
                            });
                        }
                    }
                }
            });
        })
        .map_err(|e| Error::Runtime(e.to_string()))?;
    Ok(jobs)
}

/// Jobs taken from the queue at once, their signatures checked together.
const BATCH: usize = 64;

/// Run the topic's validator, with its time limit; a panic counts as Ignore.
async fn run_validator(job: Job) -> Validation {
    let Some(validator) = job.validator else { return Validation::Accept };
    let g = job.message;
    let origin = job.signed.then_some(g.origin);
    let message = Inbound { payload: g.payload, hops: g.hops, origin, direct: false };
    let run = AssertUnwindSafe(async move { validator(message).await }).catch_unwind();
    match tokio::time::timeout(job.timeout, run).await {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(_)) => {
            tracing::warn!(topic = %job.topic, "the validator panicked; the message is ignored");
            Validation::Ignore
        }
        Err(_) => {
            tracing::debug!(topic = %job.topic, "the validator did not answer in time; the message is ignored");
            Validation::Ignore
        }
    }
}

/// Public keys of recent origins, decoded once (decoding one costs about
/// as much as checking a signature with it).
#[derive(Default)]
pub(crate) struct Keys(FastMap<PeerId, Option<Key>>);

/// Origins whose keys are kept at most; when full, all are forgotten.
const KEYS_CAPACITY: usize = 4096;

/// An origin's Ed25519 public key: the point, and its 32-byte encoding
/// (which the signature's hash covers).
#[derive(Clone, Copy)]
struct Key {
    point: EdwardsPoint,
    bytes: [u8; 32],
}

impl Keys {
    /// For each job, whether its message is genuine: unsigned topics' always
    /// are; signed ones must carry their origin's valid signature.
    ///
    /// Valid means the cofactored Ed25519 equation `[8](sB - hA - R) = 0`
    /// holds, `h` being SHA-512 of `R`, `A` and the signed bytes (the rule
    /// ZIP 215 set out). The signatures are checked as one batch (one
    /// multiscalar multiplication, cheaper than a check each when there are
    /// many); a batch that fails is split in halves, each judged the same
    /// way, so a few forgeries among many genuine signatures cost a few more
    /// batches, not a check each. A cofactored batch with random weights
    /// holds exactly when each of its equations does (but with probability
    /// 2^-128), so a signature gets the same verdict alone or in any batch,
    /// and every node judges it alike however its messages were grouped.
    pub(crate) fn verify_all(&mut self, jobs: &[Job]) -> Vec<bool> {
        let mut genuine = vec![true; jobs.len()];
        let (mut checked, mut checks) = (Vec::new(), Vec::new());
        for (i, job) in jobs.iter().enumerate() {
            if !job.signed {
                continue;
            }
            match self.check_of(&job.topic, &job.message) {
                Some(check) => {
                    checked.push(i);
                    checks.push(check);
                }
                None => genuine[i] = false,
            }
        }
        let mut verdicts = Vec::with_capacity(checks.len());
        judge(&checks, &mut verdicts);
        for (i, ok) in checked.into_iter().zip(verdicts) {
            genuine[i] = ok;
        }
        genuine
    }

    /// What checking `g`'s signature takes, or `None` if it cannot be
    /// genuine (no signature, a malformed one, or an origin without an
    /// Ed25519 key).
    fn check_of(&mut self, topic: &TopicId, g: &Gossip<PeerId>) -> Option<Check> {
        let auth = g.auth.as_ref()?;
        let signature: &[u8; 64] = auth.signature.as_ref().try_into().ok()?;
        if self.0.len() >= KEYS_CAPACITY && !self.0.contains_key(&g.origin) {
            self.0.clear();
        }
        let key = (*self.0.entry(g.origin).or_insert_with(|| verifying_key(&g.origin)))?;
        let (r_bytes, s_bytes) = signature.split_at(32);
        let r = CompressedEdwardsY::from_slice(r_bytes).ok()?.decompress()?;
        let s = Option::from(Scalar::from_canonical_bytes(s_bytes.try_into().ok()?))?;
        let header = wire::signed_header(topic, &g.origin, g.session, g.seq, g.limit, auth.time_ms);
        let hash =
            Sha512::new().chain_update(r_bytes).chain_update(key.bytes).chain_update(header).chain_update(&g.payload);
        let h = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        Some(Check { key, r, s, h })
    }
}

/// One signature to check: `[8](sB - hA - R) = 0`.
#[derive(Clone, Copy)]
struct Check {
    key: Key,
    r: EdwardsPoint,
    s: Scalar,
    h: Scalar,
}

/// Each check's verdict, appended to `verdicts` in order: the whole batch
/// at once, and the halves of a batch that fails.
fn judge(checks: &[Check], verdicts: &mut Vec<bool>) {
    if holds(checks) {
        verdicts.extend(std::iter::repeat_n(true, checks.len()));
    } else if let [_] = checks {
        verdicts.push(false);
    } else {
        let (a, b) = checks.split_at(checks.len() / 2);
        judge(a, verdicts);
        judge(b, verdicts);
    }
}

/// Whether every check holds (true for none).
fn holds(checks: &[Check]) -> bool {
    match checks {
        [] => true,
        [c] => {
            let sb_minus_ha = EdwardsPoint::vartime_double_scalar_mul_basepoint(&c.h, &-c.key.point, &c.s);
            (sb_minus_ha - c.r).mul_by_cofactor().is_identity()
        }
        _ => {
            // sum z_i (s_i B - h_i A_i - R_i), with random 128-bit weights z_i.
            let weights: Vec<Scalar> = checks.iter().map(|_| Scalar::from(rand::random::<u128>())).collect();
            let b: Scalar = checks.iter().zip(&weights).map(|(c, z)| z * c.s).sum();
            let scalars = std::iter::once(b)
                .chain(weights.iter().map(|z| -z))
                .chain(checks.iter().zip(&weights).map(|(c, z)| -(z * c.h)));
            let points = std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
                .chain(checks.iter().map(|c| c.r))
                .chain(checks.iter().map(|c| c.key.point));
            EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
        }
    }
}

/// Whether each of `messages` of `topic` carries its origin's valid
/// signature, checked as the validation thread does (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn verify_signatures(topic: &TopicId, messages: &[Gossip<PeerId>]) -> Vec<bool> {
    let jobs: Vec<Job> = messages
        .iter()
        .map(|m| Job {
            topic: *topic,
            from: m.origin,
            message: m.clone(),
            signed: true,
            validator: None,
            timeout: Duration::from_secs(1),
        })
        .collect();
    Keys::default().verify_all(&jobs)
}

/// The Ed25519 key a peer id embeds, if it embeds one (and it is not of
/// small order).
fn verifying_key(peer: &PeerId) -> Option<Key> {
    let hash = peer.as_ref();
    // 0x00: the identity multihash, whose digest is the key itself.
    if hash.code() != 0x00 {
        return None;
    }
    let bytes = PublicKey::try_decode_protobuf(hash.digest()).ok()?.try_into_ed25519().ok()?.to_bytes();
    // A key of small order would make every signature of its origin hold.
    let point = CompressedEdwardsY(bytes).decompress().filter(|p| !p.is_small_order())?;
    Some(Key { point, bytes })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hypar_proto::Auth;
    use libp2p::identity::Keypair;

    use super::*;

    fn job(key: &Keypair, seq: u64, payload: &'static [u8], signed_payload: &'static [u8]) -> Job {
        let topic = TopicId::from_name("t");
        let origin = key.public().to_peer_id();
        let signed = wire::signed_bytes(&topic, &origin, 1, seq, 0, 5, signed_payload);
        let auth = Auth { time_ms: 5, signature: Bytes::from(key.sign(&signed).unwrap()) };
        let message = Gossip::new(origin, 1, seq, 1, 0, Bytes::from_static(payload)).with_auth(auth);
        Job { topic, from: origin, message, signed: true, validator: None, timeout: Duration::from_secs(1) }
    }

    #[test]
    fn a_batch_finds_exactly_the_forged_signatures() {
        let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let mut keys = Keys::default();
        let mut jobs: Vec<Job> = (1..=10).map(|seq| job(if seq % 2 == 0 { &a } else { &b }, seq, b"m", b"m")).collect();
        assert_eq!(keys.verify_all(&jobs), vec![true; 10]);
        jobs[3] = job(&a, 4, b"altered", b"original");
        jobs[7].message.auth.as_mut().unwrap().signature = Bytes::from_static(&[1; 63]);
        let mut unsigned = job(&a, 11, b"m", b"m");
        unsigned.message.auth = None;
        jobs.push(unsigned);
        let mut expected = vec![true; 11];
        (expected[3], expected[7], expected[10]) = (false, false, false);
        assert_eq!(keys.verify_all(&jobs), expected);
        // An unsigned topic's messages need no signature.
        jobs.iter_mut().for_each(|j| j.signed = false);
        assert_eq!(keys.verify_all(&jobs), vec![true; 11]);
    }

    /// An origin whose key is a point of small order (here the identity)
    /// would have every signature hold under the cofactored equation: such
    /// keys are refused.
    #[test]
    fn an_origin_with_a_small_order_key_has_no_genuine_signature() {
        let identity = {
            let mut y = [0u8; 32];
            y[0] = 1;
            y
        };
        let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&identity).unwrap();
        let origin = PublicKey::from(key).to_peer_id();
        let signature = Bytes::from([identity, [0u8; 32]].concat()); // R = identity, s = 0
        let message =
            Gossip::new(origin, 1, 1, 1, 0, Bytes::from_static(b"m")).with_auth(Auth { time_ms: 5, signature });
        let topic = TopicId::from_name("t");
        let job = Job { topic, from: origin, message, signed: true, validator: None, timeout: Duration::from_secs(1) };
        assert_eq!(Keys::default().verify_all(&[job]), vec![false]);
    }

    /// A signature made with the secret key whose `R` carries a point of
    /// order 8: valid by the cofactored equation, not by the cofactorless
    /// one (which a random-weight batch passes or fails by its weights'
    /// residue mod 8). Alone or in a batch, it must get one verdict.
    #[test]
    fn a_signature_with_a_small_order_part_gets_one_verdict_however_it_is_grouped() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        let secret = Scalar::from(0x0123_4567_89ab_cdefu64);
        let public = (secret * B).compress().to_bytes();
        let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&public).unwrap();
        let origin = PublicKey::from(key).to_peer_id();
        let topic = TopicId::from_name("t");
        let crafted = |seq: u64| {
            let signed = wire::signed_bytes(&topic, &origin, 1, seq, 0, 5, b"m");
            let r = Scalar::from(seq + 1000);
            let r_bytes = (r * B + EIGHT_TORSION[1]).compress().to_bytes();
            let hash = Sha512::new().chain_update(r_bytes).chain_update(public).chain_update(&signed).finalize();
            let s = r + Scalar::from_bytes_mod_order_wide(&hash.into()) * secret;
            let signature = Bytes::from([r_bytes, s.to_bytes()].concat());
            let auth = Auth { time_ms: 5, signature };
            let message = Gossip::new(origin, 1, seq, 1, 0, Bytes::from_static(b"m")).with_auth(auth);
            Job { topic, from: origin, message, signed: true, validator: None, timeout: Duration::from_secs(1) }
        };
        let honest = Keypair::generate_ed25519();
        let mut keys = Keys::default();
        for seq in 1..=16 {
            assert_eq!(keys.verify_all(&[crafted(seq)]), vec![true], "alone, seq {seq}");
            let mut batch: Vec<Job> = (1..=4).map(|n| job(&honest, n, b"m", b"m")).collect();
            batch.insert(seq as usize % 5, crafted(seq));
            assert_eq!(keys.verify_all(&batch), vec![true; 5], "in a batch, seq {seq}");
        }
    }
}

/// The signed GOSSIP vector of `docs/PROTOCOL.md`: a real Ed25519 peer id
/// (from the secret key of 32 bytes `01`), encoded, decoded as a libp2p
/// `PeerId`, and its signature checked; plus peer ids the decoder refuses.
#[cfg(test)]
mod vectors {
    use bytes::Bytes;
    use hypar_proto::wire::{self, Frame, WireError};
    use hypar_proto::{Auth, Gossip, Message, TopicId};
    use libp2p::identity::Keypair;
    use libp2p::PeerId;

    use super::{Job, Keys};

    const DOC: &str = include_str!("../../docs/PROTOCOL.md");

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn the_signed_gossip_vector_encodes_decodes_and_verifies() {
        let key = Keypair::ed25519_from_bytes([1u8; 32]).unwrap();
        let origin = key.public().to_peer_id();
        let topic = TopicId::from_name("chat");
        let payload = Bytes::from_static(b"hello");
        let time_ms = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let signed = wire::signed_bytes(&topic, &origin, 0x0102_0304_0506_0708, 1, 0, time_ms, &payload);
        let signature = Bytes::from(key.sign(&signed).unwrap());
        let g = Gossip::new(origin, 0x0102_0304_0506_0708, 1, 1, 300, payload).with_auth(Auth { time_ms, signature });
        let message = Message::Gossip(g.clone());
        let mut frame = Vec::new();
        wire::encode(&topic, &message, 1024, &mut frame).unwrap();
        let (decoded, used) = wire::decode::<PeerId>(&frame, 1024).unwrap().unwrap();
        assert_eq!((decoded, used), (Frame { topic, message }, frame.len()));
        let vector = hex(&frame);
        println!("signed gossip vector: {vector}\nsigned bytes: {}\nid: {}", hex(&signed), hex(&g.id.0));
        assert!(DOC.contains(&vector), "PROTOCOL.md lacks the signed GOSSIP vector {vector}");
        assert!(DOC.contains(&hex(&g.id.0)), "PROTOCOL.md lacks its message id");
        let job = Job { topic, from: origin, message: g, signed: true, validator: None, timeout: Default::default() };
        assert_eq!(Keys::default().verify_all(&[job]), vec![true]);
    }

    #[test]
    fn peer_ids_that_are_not_multihashes_of_an_allowed_kind_are_malformed() {
        let prune_from = |origin: &[u8]| {
            // A GOSSIP whose origin field holds `origin` as a byte string.
            let mut body = vec![wire::VERSION, wire::NEW_TOPIC];
            body.extend_from_slice(TopicId::from_name("chat").as_bytes());
            body.extend_from_slice(&[7, wire::NEW_ORIGIN]); // GOSSIP, the origin in full
            body.push(origin.len() as u8);
            body.extend_from_slice(origin);
            body.extend_from_slice(&[0; 8]);
            body.extend_from_slice(&[1, 1, 0, 0, 0, 0]);
            wire::decode_body::<PeerId>(&body)
        };
        // The 4-byte ids of the layout vectors.
        assert!(matches!(prune_from(&[0xaa, 0xbb, 0xcc, 0xdd]), Err(WireError::Malformed(_))));
        // Identity multihash with a 43-byte digest; SHA-256 with 65; an
        // unknown code; a length that runs past the bytes; trailing bytes.
        let identity_43 = [&[0x00, 43][..], &[7; 43]].concat();
        let sha_65 = [&[0x12, 65][..], &[7; 65]].concat();
        let other = [&[0x13, 32][..], &[7; 32]].concat();
        let short = [&[0x12, 32][..], &[7; 31]].concat();
        let trailing = [&[0x12, 32][..], &[7; 33]].concat();
        for bad in [identity_43, sha_65, other, short, trailing] {
            assert!(matches!(prune_from(&bad), Err(WireError::Malformed(_))), "{}", hex(&bad));
        }
        // Valid: an Ed25519 id, the largest identity digest, SHA-256 digests
        // of any length up to 64 (libp2p does not insist on 32).
        let id = Keypair::ed25519_from_bytes([1u8; 32]).unwrap().public().to_peer_id().to_bytes();
        for good in [id, [&[0x00, 42][..], &[7; 42]].concat(), [&[0x12, 32][..], &[7; 32]].concat(), vec![0x12, 0]] {
            assert!(prune_from(&good).is_ok(), "{}", hex(&good));
        }
    }
}
