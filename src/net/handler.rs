//! One connection's side of the `/hypar/7.0.0` protocol: a single outbound
//! stream fed from a queue of encoded frames, and inbound streams whose
//! frames are decoded here and handed to the behaviour.
//!
//! The queue's size is shared with the behaviour through a [`Gauge`]: the
//! behaviour refuses payloads for a congested connection, and the handler
//! reports when the connection drains. Payload frames lost with a failed
//! stream are reported back with their messages, so the protocol can
//! repair them.
//!
//! A connection that carries a neighbour link (kept alive) is watched: when
//! nothing was written to it for [`Liveness::interval`] the handler writes a
//! keep-alive, and when nothing arrived from it for [`Liveness::timeout`] it
//! reports the peer silent, so a peer that vanished without a word (power
//! lost, cable cut, a partition) is replaced within seconds. A busy link
//! carries no keep-alives, and a connection no topic needs carries none.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use asynchronous_codec::Framed;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hypar_proto::wire::{self, Frame};
use hypar_proto::{Message, TopicId};
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, StreamUpgradeError, SubstreamProtocol,
};
use libp2p::PeerId;

use super::codec::{FrameCodec, Inbound};
use super::PROTOCOL;

/// Inbound streams accepted per connection; a peer opens one.
const MAX_INBOUND_STREAMS: usize = 2;

/// Outbound streams that may fail in a row (each reopened for the next
/// frame) before the connection is given up as broken.
const MAX_STREAM_FAILURES: u8 = 3;

/// A frame on its way out. A frame that carries a payload keeps the message
/// too, so that if it is refused or lost the protocol can announce the
/// payload instead.
#[derive(Debug, Clone)]
pub(crate) struct OutFrame {
    pub(crate) bytes: Bytes,
    pub(crate) payload: Option<Box<(TopicId, Message<PeerId>)>>,
}

impl OutFrame {
    fn keep_alive() -> Self {
        OutFrame { bytes: Bytes::from_static(&[wire::KEEP_ALIVE]), payload: None }
    }

    /// A keep-alive, not a frame: the handler's own, never counted as a
    /// frame written or lost. (An encoded frame starts with a non-zero
    /// length.)
    fn is_keep_alive(&self) -> bool {
        self.bytes[..] == [wire::KEEP_ALIVE]
    }
}

/// How much a connection may queue before it counts as congested.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) frames: usize,
    pub(crate) bytes: usize,
}

/// How fast a peer may send on one connection: frames and frame bytes per
/// second, each with a burst of one second's worth (0: no bound).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rate {
    pub(crate) frames: u32,
    pub(crate) bytes: u64,
}

/// A connection's inbound budget: two token buckets, each holding at most
/// one second's worth, refilled from the clock before every read. While one
/// is empty the connection is not read, and a timer wakes the handler when
/// the next frame may be.
struct Budget {
    rate: Rate,
    frames: f64,
    bytes: f64,
    refilled: tokio::time::Instant,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Budget {
    fn new(rate: Rate) -> Self {
        Budget {
            rate,
            frames: f64::from(rate.frames),
            bytes: rate.bytes as f64,
            refilled: tokio::time::Instant::now(),
            wait: None,
        }
    }

    fn has_room(&self) -> bool {
        (self.rate.frames == 0 || self.frames >= 1.0) && (self.rate.bytes == 0 || self.bytes > 0.0)
    }

    /// A frame of `size` bytes was read.
    fn spend(&mut self, size: usize) {
        self.frames -= 1.0;
        self.bytes -= size as f64;
    }

    /// Whether a frame may be read now. If not, a timer is armed (and
    /// registered with `cx`) for when one may.
    fn allows(&mut self, cx: &mut Context<'_>) -> bool {
        if self.rate.frames == 0 && self.rate.bytes == 0 {
            return true;
        }
        if let Some(wait) = &mut self.wait {
            if wait.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.wait = None;
        }
        let now = tokio::time::Instant::now();
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let (frames, bytes) = (f64::from(self.rate.frames), self.rate.bytes as f64);
        self.frames = (self.frames + elapsed * frames).min(frames);
        self.bytes = (self.bytes + elapsed * bytes).min(bytes);
        if self.has_room() {
            return true;
        }
        // Seconds until both buckets have room again (at least a millisecond).
        let short = |have: f64, need: f64, rate: f64| if rate > 0.0 { (need - have).max(0.0) / rate } else { 0.0 };
        let secs = short(self.frames, 1.0, frames).max(short(self.bytes, 1.0, bytes)).max(0.001);
        let mut wait = Box::pin(tokio::time::sleep(Duration::from_secs_f64(secs)));
        // Registers the waker; a timer this short may already have fired.
        if wait.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        self.wait = Some(wait);
        false
    }
}

/// How a kept-alive connection is watched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    /// Write a keep-alive when nothing was written for this long.
    pub(crate) interval: Duration,
    /// Report the peer silent when nothing arrived for this long.
    pub(crate) timeout: Duration,
}

/// What one connection has queued, shared by the behaviour and the handler.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    /// Set when a payload was refused; cleared (and reported) once the queue
    /// is down to half the limits.
    congested: AtomicBool,
}

impl Gauge {
    pub(crate) fn add(&self, bytes: usize) {
        self.frames.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    fn sub(&self, bytes: usize) {
        self.frames.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Whether the queue holds `factor` times the limits or more.
    pub(crate) fn is_over(&self, limits: Limits, factor: usize) -> bool {
        self.frames.load(Ordering::Acquire) >= limits.frames * factor
            || self.bytes.load(Ordering::Acquire) >= limits.bytes * factor
    }

    pub(crate) fn mark_congested(&self) {
        self.congested.store(true, Ordering::Release);
    }

    /// True once, when a congested queue is down to half its limits.
    fn drained(&self, limits: Limits) -> bool {
        let half = Limits { frames: limits.frames.div_ceil(2), bytes: limits.bytes.div_ceil(2) };
        self.congested.load(Ordering::Acquire) && !self.is_over(half, 1) && self.congested.swap(false, Ordering::AcqRel)
    }
}

#[derive(Debug)]
pub(crate) enum In {
    /// Send one frame (the behaviour already counted it in the gauge).
    Send(OutFrame),
    /// Whether some topic needs this connection kept open.
    KeepAlive(bool),
    /// Stop (true) or resume (false) reading frames from the peer: the
    /// runtime has too many of its messages waiting for a verdict. Unread
    /// frames stay in the transport, whose flow control makes the peer's
    /// own queue to us fill, so its publishers see backpressure; nothing is
    /// dropped.
    Pause(bool),
}

#[derive(Debug)]
pub(crate) enum Out {
    /// A frame arrived, with its size on the wire.
    Frame(Box<Frame<PeerId>>, usize),
    /// The peer sent bytes that are not a valid frame; its stream was closed.
    Malformed(String),
    /// The peer sent a whole frame whose body is malformed; it was skipped.
    BadFrame(String),
    /// Frames written went out this many bytes shorter, per topic, than
    /// they were handed over (the stream named their topic or origin by
    /// index).
    Shortened(Vec<(TopicId, u64)>),
    /// Frames lost: `count` in all, and the payload messages among them.
    Lost { count: usize, payloads: Vec<(TopicId, Message<PeerId>)> },
    /// The connection is closing: send nothing more through it.
    Closing,
    /// A congested queue drained: payloads may flow again.
    Drained,
    /// The peer does not speak the protocol.
    Unsupported,
    /// The outbound stream failed `MAX_STREAM_FAILURES` times in a row: the
    /// connection should be closed.
    Broken,
    /// Nothing arrived for the liveness timeout on a kept-alive connection:
    /// it should be closed.
    Silent,
}

enum Outbound {
    None,
    Opening,
    Ready(Box<Framed<Stream, FrameCodec>>),
    Failed,
}

pub(crate) struct Handler {
    max_frame: usize,
    limits: Limits,
    gauge: Arc<Gauge>,
    queue: VecDeque<OutFrame>,
    keep_alive: bool,
    outbound: Outbound,
    inbound: Vec<Framed<Stream, FrameCodec>>,
    events: VecDeque<Out>,
    /// Frames handed to the outbound stream since it last flushed (lost if it
    /// fails before the next flush), and the payloads among them.
    unflushed: usize,
    unflushed_payloads: Vec<(TopicId, Message<PeerId>)>,
    /// Bytes saved per topic by frames written since the last
    /// [`Out::Shortened`].
    shortened: Vec<(TopicId, u64)>,
    /// `poll_close` has begun.
    closing: bool,
    /// Outbound streams that failed in a row.
    stream_failures: u8,
    liveness: Liveness,
    /// Fires every `liveness.interval`.
    tick: Pin<Box<tokio::time::Sleep>>,
    /// Something arrived from the peer, and something was written to it,
    /// since the last tick (flags, not clock readings, on the frame paths).
    heard: bool,
    said: bool,
    /// How long nothing has arrived, counted in ticks.
    quiet: Duration,
    /// `Silent` was reported.
    silent: bool,
    /// Inbound streams are not read (see [`In::Pause`]).
    paused: bool,
    /// What the peer may still send before it is read more slowly.
    budget: Budget,
}

impl Handler {
    pub(crate) fn new(
        max_frame: usize,
        limits: Limits,
        liveness: Liveness,
        rate: Rate,
        gauge: Arc<Gauge>,
        keep_alive: bool,
    ) -> Self {
        Handler {
            max_frame,
            limits,
            gauge,
            queue: VecDeque::new(),
            keep_alive,
            outbound: Outbound::None,
            inbound: Vec::new(),
            events: VecDeque::new(),
            unflushed: 0,
            unflushed_payloads: Vec::new(),
            shortened: Vec::new(),
            closing: false,
            stream_failures: 0,
            liveness,
            tick: Box::pin(tokio::time::sleep(liveness.interval)),
            heard: false,
            said: false,
            quiet: Duration::ZERO,
            silent: false,
            paused: false,
            budget: Budget::new(rate),
        }
    }

    /// Once per liveness interval, on a kept-alive connection: report the
    /// peer silent once nothing arrived for the timeout, or queue a
    /// keep-alive if nothing was written since the last tick.
    fn on_tick(&mut self) {
        let (heard, said) = (std::mem::take(&mut self.heard), std::mem::take(&mut self.said));
        if self.silent {
            self.quiet = Duration::ZERO;
            return;
        }
        self.quiet = if heard { Duration::ZERO } else { self.quiet + self.liveness.interval };
        if self.quiet >= self.liveness.timeout {
            self.silent = true;
            self.events.push_back(Out::Silent);
        } else if !said && self.queue.is_empty() {
            let frame = OutFrame::keep_alive();
            self.gauge.add(frame.bytes.len());
            self.queue.push_back(frame);
        }
    }

    /// Report frames lost, with their payloads.
    fn lost(&mut self, count: usize, payloads: Vec<(TopicId, Message<PeerId>)>) {
        if count > 0 {
            self.events.push_back(Out::Lost { count, payloads });
        }
    }

    /// Every queued frame is lost (the stream cannot be used).
    fn lose_queue(&mut self) {
        let frames: Vec<OutFrame> = self.queue.drain(..).collect();
        let count = frames.iter().filter(|f| !f.is_keep_alive()).count();
        let payloads = frames
            .into_iter()
            .filter_map(|f| {
                self.gauge.sub(f.bytes.len());
                f.payload.map(|p| *p)
            })
            .collect();
        self.lost(count, payloads);
    }

    /// The outbound stream failed: what it had not flushed is lost and
    /// reported; it is reopened for the next frame, unless it failed too
    /// often, and then the connection is reported broken.
    fn stream_failed(&mut self) {
        let payloads = std::mem::take(&mut self.unflushed_payloads);
        let count = std::mem::take(&mut self.unflushed);
        self.lost(count, payloads);
        self.stream_failures = self.stream_failures.saturating_add(1);
        if self.stream_failures >= MAX_STREAM_FAILURES {
            self.outbound = Outbound::Failed;
            self.lose_queue();
            self.events.push_back(Out::Broken);
        } else {
            self.outbound = Outbound::None;
        }
    }

    /// Write queued frames to the outbound stream; true if it failed.
    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let Outbound::Ready(framed) = &mut self.outbound else { return false };
        while !self.queue.is_empty() {
            match framed.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    let Some(frame) = self.queue.pop_front() else { break };
                    self.gauge.sub(frame.bytes.len());
                    self.unflushed += usize::from(!frame.is_keep_alive());
                    self.unflushed_payloads.extend(frame.payload.map(|p| *p));
                    self.said = true;
                    if framed.start_send_unpin(frame.bytes).is_err() {
                        return true;
                    }
                    if let Some((topic, saved)) = framed.codec_mut().take_shortened().filter(|(_, s)| *s > 0) {
                        match self.shortened.iter_mut().find(|(t, _)| *t == topic) {
                            Some((_, n)) => *n += saved as u64,
                            None => self.shortened.push((topic, saved as u64)),
                        }
                    }
                }
                Poll::Ready(Err(_)) => return true,
                Poll::Pending => break,
            }
        }
        match framed.poll_flush_unpin(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = 0;
                self.unflushed_payloads.clear();
                self.stream_failures = 0;
                false
            }
            Poll::Ready(Err(_)) => true,
            Poll::Pending => false,
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = In;
    type ToBehaviour = Out;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn on_behaviour_event(&mut self, event: In) {
        match event {
            In::Send(frame) => {
                self.queue.push_back(frame);
                if matches!(self.outbound, Outbound::Failed) {
                    self.lose_queue();
                }
            }
            In::Pause(paused) => self.paused = paused,
            In::KeepAlive(k) => {
                if k && !self.keep_alive {
                    // Watched from now on: the silence before does not count.
                    self.quiet = Duration::ZERO;
                    self.silent = false;
                    self.tick.as_mut().reset(tokio::time::Instant::now() + self.liveness.interval);
                }
                self.keep_alive = k;
            }
        }
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep_alive || !self.queue.is_empty()
    }

    /// The connection is closing (closed by either side, failed, or a
    /// relay ended its circuit): what was queued or not flushed yet is
    /// reported lost, so the runtime repairs it (a payload becomes an
    /// announcement, which the peer fetches over another connection).
    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<Option<Out>> {
        if !self.closing {
            // First, so that the repairs below go to another connection.
            self.closing = true;
            return Poll::Ready(Some(Out::Closing));
        }
        if !self.unflushed_payloads.is_empty() || self.unflushed > 0 {
            let payloads = std::mem::take(&mut self.unflushed_payloads);
            let count = std::mem::take(&mut self.unflushed);
            self.lost(count, payloads);
        }
        if !self.queue.is_empty() {
            self.lose_queue();
        }
        if !self.shortened.is_empty() {
            self.events.push_back(Out::Shortened(std::mem::take(&mut self.shortened)));
        }
        Poll::Ready(self.events.pop_front())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Out>> {
        // Only a kept-alive connection is watched: an idle one that no
        // topic needs is not woken every interval for nothing.
        while self.keep_alive && self.tick.as_mut().poll(cx).is_ready() {
            self.on_tick();
            let next = tokio::time::Instant::now() + self.liveness.interval;
            self.tick.as_mut().reset(next);
        }
        loop {
            if let Some(e) = self.events.pop_front() {
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(e));
            }
            // Read: one frame per poll round from each inbound stream, while
            // the peer is within its rate. A paused or throttled connection
            // counts as heard: the silence is ours.
            let throttled = !self.paused && !self.budget.allows(cx);
            self.heard |= self.paused || throttled;
            let mut i = 0;
            while i < self.inbound.len() && !self.paused && !throttled {
                match self.inbound[i].poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(inbound))) => {
                        self.heard = true;
                        match inbound {
                            Inbound::Frame(frame, size) => {
                                self.budget.spend(size);
                                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Frame(frame, size)));
                            }
                            Inbound::BadFrame(reason, size) => {
                                self.budget.spend(size);
                                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::BadFrame(reason)));
                            }
                            // One item per stream per round, as for frames:
                            // poll again soon rather than loop over a flood.
                            Inbound::KeepAlive => {
                                cx.waker().wake_by_ref();
                                i += 1;
                            }
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        self.inbound.swap_remove(i);
                        return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Malformed(e.to_string())));
                    }
                    Poll::Ready(None) => {
                        self.inbound.swap_remove(i);
                    }
                    Poll::Pending => {
                        self.heard |= self.inbound[i].codec_mut().take_arrived();
                        i += 1;
                    }
                }
            }
            // Write.
            if matches!(self.outbound, Outbound::None) && !self.queue.is_empty() {
                self.outbound = Outbound::Opening;
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ()),
                });
            }
            if self.write(cx) {
                self.stream_failed();
                continue;
            }
            if !self.shortened.is_empty() {
                let saved = std::mem::take(&mut self.shortened);
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Shortened(saved)));
            }
            if self.gauge.drained(self.limits) {
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Drained));
            }
            return Poll::Pending;
        }
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: mut stream, .. }) => {
                stream.ignore_for_keep_alive();
                self.heard = true;
                if self.inbound.len() < MAX_INBOUND_STREAMS {
                    self.inbound.push(Framed::new(stream, FrameCodec::new(self.max_frame)));
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol: mut stream, .. }) => {
                stream.ignore_for_keep_alive();
                self.outbound = Outbound::Ready(Box::new(Framed::new(stream, FrameCodec::new(self.max_frame))));
            }
            ConnectionEvent::DialUpgradeError(e) => {
                if matches!(e.error, StreamUpgradeError::NegotiationFailed) {
                    self.outbound = Outbound::Failed;
                    self.lose_queue();
                    self.events.push_back(Out::Unsupported);
                } else {
                    // Timeout or I/O error: try again with the next frame.
                    self.stream_failed();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Handler {
    /// The connection closed: its queued frames leave the gauge with it.
    fn drop(&mut self) {
        for f in self.queue.drain(..) {
            self.gauge.sub(f.bytes.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::task::ArcWake;

    use super::*;

    /// Counts the wakes of the task polling a handler.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl ArcWake for Wakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_kept_alive_connection_wakes_for_its_liveness_tick() {
        let liveness = Liveness { interval: Duration::from_secs(1), timeout: Duration::from_secs(5) };
        let limits = Limits { frames: 8, bytes: 1 << 16 };
        let gauge = Arc::new(Gauge::default());
        let mut handler = Handler::new(1 << 16, limits, liveness, Rate::default(), gauge, false);
        let wakes = Arc::new(Wakes::default());
        let waker = futures::task::waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);

        assert!(handler.poll(&mut cx).is_pending());
        tokio::time::advance(10 * liveness.interval).await;
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "a connection no topic needs was woken by its tick");

        // Kept alive from now on: one interval later the tick wakes it, and
        // with nothing written it queues a keep-alive (so asks for a stream).
        handler.on_behaviour_event(In::KeepAlive(true));
        assert!(handler.poll(&mut cx).is_pending());
        tokio::time::advance(liveness.interval).await;
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(matches!(handler.poll(&mut cx), Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { .. })));
    }
}
