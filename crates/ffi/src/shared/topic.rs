//! A joined topic as both foreign faces hold it: publishing, counters, and
//! the delivery of messages to a callback thread or to a pull inbox.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::{Stream, StreamExt};
use hypar::{BornIn, Publisher, Received, Topic};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{CallbackSlot, CallbackThread, ForeignError, Message, TopicOptions, TopicStats, Verdict};

/// Messages handed to the foreign side in one batch at most, when it pulls
/// them or asks for batches.
const MAX_BATCH: usize = 256;

/// How a topic hands its messages to the foreign side.
pub enum Delivery {
    /// Call this with each message, one call at a time, on a library thread.
    Each(Box<dyn FnMut(Received) + Send>),
    /// Call this with every message already waiting, up to `max` (at least
    /// 1) at a time, on a library thread: one foreign call per batch.
    Batches {
        /// Most messages per call.
        max: usize,
        /// The callback.
        callback: Box<dyn FnMut(Vec<Received>) + Send>,
    },
    /// Keep messages for [`ForeignTopic::next_message`].
    Pull,
}

/// A foreign validator: judges each new message, one call at a time, on a
/// library thread of its topic. A panic (or a foreign exception turned
/// into one) counts as [`Verdict::Ignore`].
pub type Validator = Box<dyn FnMut(Message) -> Verdict + Send>;

/// Start the thread that runs `validate` for topic `name`, and return it
/// with the Rust API's validator that hands it messages. At most `queue`
/// messages wait for it; beyond that (never, with a queue as large as the
/// topic's `max_pending`) a message is ignored.
pub(crate) fn validator_thread(
    name: &str,
    mut validate: Validator,
    queue: usize,
) -> Result<(CallbackThread, hypar::topic::Config), ForeignError> {
    let (tx, rx) = mpsc::channel::<(Received, oneshot::Sender<Verdict>)>(queue);
    let judge = move |(message, reply): (Received, oneshot::Sender<Verdict>)| {
        let _ = reply.send(validate(message.into()));
    };
    let thread = CallbackThread::spawn(format!("hypar-validate-{name}"), rx, judge)
        .map_err(|e| ForeignError::thread("validator", e))?;
    let config = hypar::topic::Config::new(name, vec![]).with_validator(move |m| {
        let (reply, verdict) = oneshot::channel();
        let queued = tx.clone().try_send((m, reply)).is_ok();
        async move {
            match queued {
                true => verdict.await.map_or(hypar::Verdict::Ignore, Into::into),
                false => hypar::Verdict::Ignore,
            }
        }
    });
    Ok((thread, config))
}

/// A topic's messages as a stream, ending when the topic does.
fn received(topic: Topic) -> impl Stream<Item = Received> + Unpin + Send + 'static {
    Box::pin(futures::stream::unfold(topic, |mut t| async move { t.recv_with_hops().await.map(|m| (m, t)) }))
}

/// A joined topic. Dropping it (or [`ForeignTopic::leave`]) leaves the
/// topic; afterwards no callback starts.
pub struct ForeignTopic {
    name: String,
    /// Taken when the topic is left; the last publisher leaves.
    publisher: Mutex<Option<Publisher>>,
    /// Shared with the network, which stops it when it shuts down.
    delivering: Arc<Delivering>,
    born: BornIn,
}

/// Where a topic's messages go.
pub(crate) struct Delivering {
    /// The callback thread, or the relay thread that fills `inbox`.
    callbacks: CallbackSlot,
    /// The thread that runs the topic's validator, if it has one.
    validator: CallbackSlot,
    /// Messages for `next_message` (topics joined with [`Delivery::Pull`]).
    inbox: Option<Arc<Inbox>>,
}

impl Delivering {
    /// Stop delivering: once this returns, no callback starts (from the
    /// topic's own callback: after the current call), and `next_message`
    /// ends.
    pub(crate) fn stop(&self) {
        self.callbacks.stop();
        self.validator.stop();
        if let Some(inbox) = &self.inbox {
            inbox.end();
        }
    }
}

impl ForeignTopic {
    /// Start delivering `topic`'s messages as `delivery` says; an inbox
    /// holds at most `queue` messages. `validator` is the thread running
    /// the topic's validator, stopped with the delivery.
    pub(crate) fn start(
        topic: Topic,
        delivery: Delivery,
        queue: usize,
        validator: Option<CallbackThread>,
    ) -> Result<ForeignTopic, ForeignError> {
        let name = topic.name().to_string();
        let publisher = topic.publisher();
        let thread_name = format!("hypar-topic-{name}");
        let spawn_failed = |e| ForeignError::thread("delivery", e);
        let messages = received(topic);
        let (thread, inbox) = match delivery {
            Delivery::Each(f) => (CallbackThread::spawn(thread_name, messages, f).map_err(spawn_failed)?, None),
            Delivery::Batches { max, callback } => {
                (CallbackThread::spawn_batched(thread_name, messages, max, callback).map_err(spawn_failed)?, None)
            }
            Delivery::Pull => {
                let inbox = Arc::new(Inbox::new(queue));
                let relay = inbox.clone();
                // The end of the stream travels as a `None`.
                let stream = messages.map(Some).chain(futures::stream::iter([None]));
                let thread = CallbackThread::spawn_batched(thread_name, stream, MAX_BATCH, move |b| relay.push(b));
                (thread.map_err(spawn_failed)?, Some(inbox))
            }
        };
        Ok(ForeignTopic {
            name,
            publisher: Mutex::new(Some(publisher)),
            delivering: Arc::new(Delivering {
                callbacks: CallbackSlot::new(Some(thread)),
                validator: CallbackSlot::new(validator),
                inbox,
            }),
            born: BornIn::here(),
        })
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Err(Forked)` in a `fork`ed child of the process that joined.
    pub fn check_process(&self) -> Result<(), ForeignError> {
        if self.born.is_forked() {
            return Err(hypar::Error::Forked.into());
        }
        Ok(())
    }

    /// Where the messages go, for the network to stop at shutdown.
    pub(crate) fn delivering(&self) -> &Arc<Delivering> {
        &self.delivering
    }

    fn publisher(&self) -> Result<Publisher, ForeignError> {
        self.check_process()?;
        self.publisher
            .lock()
            .clone()
            .ok_or_else(|| ForeignError::new(super::ErrorKind::ShutDown, format!("topic {:?} was left", self.name)))
    }

    /// Publish `payload` to every other member. Returns at once.
    pub fn gossip(&self, payload: Vec<u8>) -> Result<(), ForeignError> {
        Ok(self.publisher()?.gossip(payload)?)
    }

    /// Publish a copy of `payload`, checking its size before copying it.
    pub fn gossip_copy(&self, payload: &[u8]) -> Result<(), ForeignError> {
        let publisher = self.publisher()?;
        publisher.check_size(payload.len())?;
        Ok(publisher.gossip(payload.to_vec())?)
    }

    /// Publish `payload` to members at most `hops` overlay hops away (1: the
    /// neighbours only; 0 or more than the topic's limit: as far as it
    /// allows).
    pub fn gossip_within(&self, payload: Vec<u8>, hops: u16) -> Result<(), ForeignError> {
        let publisher = self.publisher()?;
        publisher.check_size(payload.len())?;
        Ok(publisher.gossip_within(payload, hops)?)
    }

    /// Send `payload` to the neighbour `peer_id` alone (see
    /// [`hypar::Publisher::send`]).
    pub fn send(&self, peer_id: &str, payload: Vec<u8>) -> Result<(), ForeignError> {
        let peer = peer_id
            .parse::<hypar::PeerId>()
            .map_err(|e| ForeignError::invalid(format!("invalid peer id {peer_id:?}: {e}")))?;
        Ok(self.publisher()?.send(peer, payload)?)
    }

    /// Publish each of `messages` in order. Returns how many were published:
    /// it stops at the first failure, and returns that failure if it hit the
    /// first message.
    pub fn gossip_many(&self, messages: Vec<Vec<u8>>) -> Result<u64, ForeignError> {
        let publisher = self.publisher()?;
        let mut sent = 0;
        for m in messages {
            match publisher.gossip(m) {
                Ok(()) => sent += 1,
                Err(e) if sent == 0 => return Err(e.into()),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// This topic's counters.
    pub fn stats(&self) -> Result<TopicStats, ForeignError> {
        let mut stats: TopicStats = self.publisher()?.stats()?.into();
        stats.dropped += self.delivering.inbox.as_ref().map_or(0, |i| i.dropped.load(Ordering::Relaxed));
        Ok(stats)
    }

    /// The options in force, every field set.
    pub fn config(&self) -> Result<TopicOptions, ForeignError> {
        Ok(TopicOptions::from_config(&self.publisher()?.config()))
    }

    /// Change the options while the topic runs, at once: numbers left unset
    /// keep their value; `allow`, `hear` and `tell` are taken as given
    /// (unset: anyone). Refused, changing nothing, for a value out of range
    /// or an option fixed while joined (`signed`), naming it.
    pub fn configure(&self, options: &TopicOptions) -> Result<(), ForeignError> {
        let publisher = self.publisher()?;
        let mut config = publisher.config();
        options.apply(&mut config)?;
        Ok(publisher.configure(config)?)
    }

    /// The next message, or `None` once the topic was left or the network
    /// shut down. Only for topics joined with [`Delivery::Pull`].
    pub async fn next_message(&self) -> Result<Option<Message>, ForeignError> {
        match &self.delivering.inbox {
            Some(inbox) => Ok(inbox.next().await),
            None => Err(ForeignError::invalid(format!(
                "topic {:?} delivers to its handler; next_message is for topics joined without one",
                self.name
            ))),
        }
    }

    /// Leave the topic and stop delivering: once this returns, no callback
    /// starts (from the topic's own callback: after the current call), and
    /// `next_message` ends. Idempotent.
    pub fn leave(&self) {
        self.publisher.lock().take();
        self.delivering.stop();
    }

    /// Whether messages are still delivered: false once the topic was left
    /// or its network shut down.
    pub fn is_delivering(&self) -> bool {
        self.delivering.callbacks.is_running()
    }
}

/// Messages waiting for `next_message`. A library thread moves them here
/// from the topic's queue and wakes the reader, so that a foreign executor's
/// wake-up never runs on the network thread. Bounded like the topic's queue;
/// what does not fit is dropped and counted.
struct Inbox {
    queue: Mutex<VecDeque<Message>>,
    capacity: usize,
    ended: AtomicBool,
    dropped: AtomicU64,
    ready: Notify,
}

impl Inbox {
    fn new(capacity: usize) -> Inbox {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            ended: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
        }
    }

    fn push(&self, batch: Vec<Option<Received>>) {
        {
            let mut queue = self.queue.lock();
            for item in batch {
                match item {
                    Some(m) if queue.len() < self.capacity => queue.push_back(m.into()),
                    Some(_) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    None => self.ended.store(true, Ordering::Release),
                }
            }
        }
        self.ready.notify_waiters();
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.ready.notify_waiters();
    }

    async fn next(&self) -> Option<Message> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.queue.lock().pop_front() {
                return Some(m);
            }
            if self.ended.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }
}
