//! Events and statistics the application may ask for.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::PeerId;

/// Something that happened in one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The topic's name.
    pub topic: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    Joined,
    /// A peer became a neighbour.
    NeighborUp(PeerId),
    /// A neighbour left, failed or was replaced.
    NeighborDown(PeerId),
    /// No bootstrap peer could be reached; retrying with backoff.
    BootstrapFailed,
}

/// A stream of [`Event`]s from [`Network::events`](crate::Network::events).
/// Bounded: if not read, further events are dropped.
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the network has shut down.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Wait for the next event, blocking this thread.
    pub fn recv_blocking(&mut self) -> Option<Event> {
        futures::executor::block_on(self.rx.recv())
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// Counters of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicStats {
    pub name: String,
    /// Peers in the active view (neighbours).
    pub active_view: usize,
    /// Peers in the passive view (backups).
    pub passive_view: usize,
    /// Neighbours on the broadcast tree (eager links); the others get
    /// announcements only.
    pub tree_links: usize,
    /// Announced messages fetched with a GRAFT because they did not arrive
    /// along the tree.
    pub grafts: u64,
    /// Messages published by this node.
    pub published: u64,
    /// Messages delivered (each once).
    pub delivered: u64,
    /// Payload copies sent to neighbours.
    pub relayed: u64,
    /// Duplicate payload copies received (and discarded).
    pub duplicates: u64,
    /// Messages dropped: refused as invalid, too old or from outsiders, or
    /// not taken by a full subscriber queue.
    pub dropped: u64,
    /// Frame bytes received and sent for this topic.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Counters of the whole network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub topics: Vec<TopicStats>,
    /// Connected peers.
    pub connected_peers: usize,
    /// Frames dropped because a peer's queue was full or it could not be reached.
    pub frames_dropped: u64,
}
