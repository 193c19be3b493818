//! The validation thread: where held messages ([`Output::Validate`]) get
//! their verdict, off the network thread. It verifies signatures, then runs
//! the topic's validator (an async function, cut off at the topic's
//! `validation_timeout`; one that panics counts as Ignore), and sends each
//! verdict back to the network thread as [`Command::Validated`].
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

use futures::FutureExt;
use hypar_proto::{wire, Gossip, TopicId, Validation};
use libp2p::identity::PublicKey;
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::{Command, Inbound};
use crate::Error;

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
                while let Some(job) = rx.recv().await {
                    let commands = commands.clone();
                    let (topic, id, from) = (job.topic, job.message.id, job.from);
                    match judge_now(&job) {
                        Some(verdict) => {
                            let _ = commands.send(Command::Validated { topic, id, from, verdict });
                        }
                        None => {
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

/// The verdict if no validator needs to run: a bad signature, or no
/// validator at all.
fn judge_now(job: &Job) -> Option<Validation> {
    if job.signed && !verify(&job.topic, &job.message) {
        return Some(Validation::Forged);
    }
    job.validator.is_none().then_some(Validation::Accept)
}

/// Run the topic's validator, with its time limit; a panic counts as Ignore.
async fn run_validator(job: Job) -> Validation {
    let Some(validator) = job.validator else { return Validation::Accept };
    let g = job.message;
    let origin = job.signed.then_some(g.origin);
    let message = Inbound { payload: g.payload, hops: g.hops, origin };
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

/// Whether `g` carries its origin's valid signature for `topic`.
pub(crate) fn verify(topic: &TopicId, g: &Gossip<PeerId>) -> bool {
    let Some(auth) = &g.auth else { return false };
    let Some(key) = public_key(&g.origin) else { return false };
    let signed = wire::signed_bytes(topic, &g.origin, g.session, g.seq, auth.time_ms, &g.payload);
    key.verify(&signed, &auth.signature)
}

/// The public key a peer id embeds (Ed25519 ids embed theirs).
fn public_key(peer: &PeerId) -> Option<PublicKey> {
    let hash = peer.as_ref();
    // 0x00: the identity multihash, whose digest is the key itself.
    (hash.code() == 0x00).then(|| PublicKey::try_decode_protobuf(hash.digest()).ok()).flatten()
}
