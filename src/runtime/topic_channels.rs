//! What a joined topic's handles and the network thread share: the
//! subscriber queues, the publishes accepted and not sent yet (bounded in
//! count and bytes), and whether the topic is closed.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hypar_proto::{ProtocolConfig, TopicId};
use libp2p::PeerId;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use super::Inbound;

pub(crate) struct TopicChannels {
    pub id: TopicId,
    pub name: Arc<str>,
    /// Messages are signed (their frames are larger), and how many bytes
    /// the origin they name takes on the wire.
    pub signed: bool,
    pub origin_len: usize,
    /// The protocol configuration in force (written by the network thread).
    pub config: Mutex<ProtocolConfig<PeerId>>,
    subscribers: Mutex<Vec<(u64, mpsc::Sender<Inbound>)>>,
    next_subscriber: AtomicU64,
    /// Handles (`Topic`, `Publisher`) alive; the last one to go leaves.
    handles: AtomicUsize,
    /// Publishes accepted and not sent yet, and their payload bytes.
    pending: Mutex<(usize, usize)>,
    /// Woken when pending publishes are sent (room for `gossip_async`).
    room: Notify,
    /// Messages a full subscriber queue refused.
    pub subscriber_drops: AtomicU64,
    /// Set when the topic is left or the network stops: streams end at once,
    /// even with messages still queued, so no callback starts afterwards.
    closed: AtomicBool,
}

impl TopicChannels {
    pub(crate) fn new(id: TopicId, name: &str, config: ProtocolConfig<PeerId>, origin_len: usize) -> Self {
        TopicChannels {
            id,
            name: name.into(),
            signed: config.signed,
            origin_len,
            config: Mutex::new(config),
            subscribers: Mutex::new(Vec::new()),
            next_subscriber: AtomicU64::new(0),
            handles: AtomicUsize::new(0),
            pending: Mutex::new((0, 0)),
            room: Notify::new(),
            subscriber_drops: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Count a publish of `len` bytes as pending, unless that would pass
    /// `max_count` publishes or `max_bytes` bytes: then `Err` with what waits.
    pub(crate) fn reserve(&self, len: usize, max_count: usize, max_bytes: usize) -> Result<(), (usize, usize)> {
        let mut pending = self.pending.lock();
        let (count, bytes) = *pending;
        if count >= max_count || bytes.saturating_add(len) > max_bytes {
            return Err((count, bytes));
        }
        *pending = (count + 1, bytes + len);
        Ok(())
    }

    /// A pending publish of `len` bytes was sent (or dropped with the topic).
    pub(crate) fn release(&self, len: usize) {
        let mut pending = self.pending.lock();
        pending.0 = pending.0.saturating_sub(1);
        pending.1 = pending.1.saturating_sub(len);
        drop(pending);
        self.room.notify_waiters();
    }

    /// A wait until some pending publish is sent (or the topic closes),
    /// armed now: a release after this call, even before the wait is
    /// polled, ends it. Arm it before trying to publish, so the room made
    /// between a refused try and the wait is not missed.
    pub(crate) fn room(&self) -> impl std::future::Future<Output = ()> + '_ {
        let mut notified = Box::pin(self.room.notified());
        notified.as_mut().enable();
        async move {
            if !self.is_closed() {
                notified.await;
            }
        }
    }

    /// Hand a delivered message to every subscriber without waiting;
    /// returns how many subscribers' queues were full (and missed it).
    pub(crate) fn deliver(&self, message: &Inbound) -> u64 {
        let mut missed = 0;
        for (_, tx) in self.subscribers.lock().iter() {
            if tx.try_send(message.clone()).is_err() {
                missed += 1;
            }
        }
        self.subscriber_drops.fetch_add(missed, Ordering::Relaxed);
        missed
    }

    /// A new subscriber queue of `capacity` messages. Once the topic is
    /// closed the queue is born closed, so its stream ends at once.
    pub(crate) fn subscribe(&self, capacity: usize) -> (u64, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(capacity);
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let mut subscribers = self.subscribers.lock();
        if !self.is_closed() {
            subscribers.push((id, tx));
        }
        (id, rx)
    }

    pub(crate) fn unsubscribe(&self, subscriber: u64) {
        self.subscribers.lock().retain(|(id, _)| *id != subscriber);
    }

    /// End every subscriber's stream (the topic was left or the network stopped).
    pub(crate) fn close(&self) {
        let mut subscribers = self.subscribers.lock();
        self.closed.store(true, Ordering::Release);
        subscribers.clear();
        drop(subscribers);
        self.room.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// One more handle.
    pub(crate) fn acquire(&self) {
        self.handles.fetch_add(1, Ordering::AcqRel);
    }

    /// One handle fewer; true if it was the last.
    pub(crate) fn release_handle(&self) -> bool {
        self.handles.fetch_sub(1, Ordering::AcqRel) == 1
    }
}
