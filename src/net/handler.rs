//! One connection's side of the `/hypar/1.0.0` protocol: a single outbound
//! stream fed from a bounded queue of encoded frames, and inbound streams
//! whose frames are decoded here and handed to the behaviour.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use asynchronous_codec::Framed;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, StreamUpgradeError, SubstreamProtocol,
};
use libp2p::PeerId;

use super::codec::FrameCodec;
use super::PROTOCOL;
use hypar_proto::wire::Frame;

/// Inbound streams accepted per connection; a peer opens one.
const MAX_INBOUND_STREAMS: usize = 2;

/// Outbound streams that may fail in a row (each reopened for the next
/// frame) before the connection is given up as broken.
const MAX_STREAM_FAILURES: u8 = 3;

#[derive(Debug)]
pub(crate) enum In {
    /// Send one encoded frame.
    Send(Bytes),
    /// Whether some topic needs this connection kept open.
    KeepAlive(bool),
}

#[derive(Debug)]
pub(crate) enum Out {
    /// A frame arrived, with its size on the wire.
    Frame(Frame<PeerId>, usize),
    /// The peer sent bytes that are not a valid frame; its stream was closed.
    Malformed(String),
    /// Frames dropped because the outbound queue was full.
    Dropped(usize),
    /// The peer does not speak the protocol.
    Unsupported,
    /// The outbound stream failed `MAX_STREAM_FAILURES` times in a row: the
    /// connection should be closed.
    Broken,
}

enum Outbound {
    None,
    Opening,
    Ready(Box<Framed<Stream, FrameCodec>>),
    Failed,
}

pub(crate) struct Handler {
    max_frame: usize,
    queue_limit: usize,
    queue: VecDeque<Bytes>,
    keep_alive: bool,
    outbound: Outbound,
    inbound: Vec<Framed<Stream, FrameCodec>>,
    events: VecDeque<Out>,
    dropped: usize,
    /// Frames handed to the outbound stream since it last flushed: lost if
    /// it fails before the next flush.
    unflushed: usize,
    /// Outbound streams that failed in a row.
    stream_failures: u8,
}

impl Handler {
    pub(crate) fn new(max_frame: usize, queue_limit: usize, keep_alive: bool) -> Self {
        Handler {
            max_frame,
            queue_limit,
            queue: VecDeque::new(),
            keep_alive,
            outbound: Outbound::None,
            inbound: Vec::new(),
            events: VecDeque::new(),
            dropped: 0,
            unflushed: 0,
            stream_failures: 0,
        }
    }

    /// The outbound stream failed: what it had not flushed is lost and
    /// counted; it is reopened for the next frame, unless it failed too
    /// often, and then the connection is reported broken.
    fn stream_failed(&mut self) {
        self.dropped += std::mem::take(&mut self.unflushed);
        self.stream_failures = self.stream_failures.saturating_add(1);
        if self.stream_failures >= MAX_STREAM_FAILURES {
            self.outbound = Outbound::Failed;
            self.dropped += self.queue.len();
            self.queue.clear();
            self.events.push_back(Out::Broken);
        } else {
            self.outbound = Outbound::None;
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
                if matches!(self.outbound, Outbound::Failed) {
                    self.dropped += 1;
                } else if self.queue.len() >= self.queue_limit {
                    // A peer that cannot keep up loses frames rather than
                    // stalling everyone; Plumtree's lazy repair recovers.
                    self.dropped += 1;
                } else {
                    self.queue.push_back(frame);
                }
            }
            In::KeepAlive(k) => self.keep_alive = k,
        }
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep_alive || !self.queue.is_empty()
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Out>> {
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Dropped(n)));
        }
        if let Some(e) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(e));
        }
        // Read: one frame per poll round from each inbound stream.
        let mut i = 0;
        while i < self.inbound.len() {
            match self.inbound[i].poll_next_unpin(cx) {
                Poll::Ready(Some(Ok((frame, size)))) => {
                    return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Frame(frame, size)));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.inbound.swap_remove(i);
                    return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Out::Malformed(e.to_string())));
                }
                Poll::Ready(None) => {
                    self.inbound.swap_remove(i);
                }
                Poll::Pending => i += 1,
            }
        }
        // Write.
        match &mut self.outbound {
            Outbound::None if !self.queue.is_empty() => {
                self.outbound = Outbound::Opening;
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ()),
                });
            }
            Outbound::Ready(framed) => {
                let mut failed = false;
                while !self.queue.is_empty() {
                    match framed.poll_ready_unpin(cx) {
                        Poll::Ready(Ok(())) => {
                            let Some(frame) = self.queue.pop_front() else { break };
                            self.unflushed += 1;
                            if framed.start_send_unpin(frame).is_err() {
                                failed = true;
                                break;
                            }
                        }
                        Poll::Ready(Err(_)) => {
                            failed = true;
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
                if !failed {
                    match framed.poll_flush_unpin(cx) {
                        Poll::Ready(Ok(())) => {
                            self.unflushed = 0;
                            self.stream_failures = 0;
                        }
                        Poll::Ready(Err(_)) => failed = true,
                        Poll::Pending => {}
                    }
                }
                if failed {
                    self.stream_failed();
                    return self.poll(cx);
                }
            }
            _ => {}
        }
        Poll::Pending
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: mut stream, .. }) => {
                stream.ignore_for_keep_alive();
                if self.inbound.len() < MAX_INBOUND_STREAMS {
                    self.inbound.push(Framed::new(stream, FrameCodec { max_frame: self.max_frame }));
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol: mut stream, .. }) => {
                stream.ignore_for_keep_alive();
                self.outbound =
                    Outbound::Ready(Box::new(Framed::new(stream, FrameCodec { max_frame: self.max_frame })));
            }
            ConnectionEvent::DialUpgradeError(e) => {
                if matches!(e.error, StreamUpgradeError::NegotiationFailed) {
                    self.outbound = Outbound::Failed;
                    self.dropped += self.queue.len();
                    self.queue.clear();
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
