//! Liveness: every connection is pinged (libp2p ping) every
//! `liveness_interval`; one whose last answered ping is older than
//! `liveness_timeout` is closed, so a peer that vanished without a word
//! (power lost, cable cut, a partition) is treated as disconnected within
//! about `liveness_interval + liveness_timeout`, and the overlay replaces it.
//!
//! The check looks at answers, not at ping failures: libp2p-ping reports a
//! failure only after a second timed-out ping on a new stream, whose
//! negotiation over a dead link takes its own timeout too (17 s in a test of
//! a 1 s interval and 5 s timeout).

use std::collections::HashMap;
use std::time::Instant;

use libp2p::swarm::ConnectionId;
use libp2p::PeerId;

use super::{Due, Runtime};

/// When each connection last answered (or opened).
#[derive(Default)]
pub(crate) struct Liveness(HashMap<ConnectionId, (PeerId, Instant)>);

impl Runtime {
    /// A connection opened, or answered a ping.
    pub(super) fn alive(&mut self, peer: PeerId, connection: ConnectionId) {
        self.liveness.0.insert(connection, (peer, Instant::now()));
    }

    pub(super) fn connection_closed(&mut self, connection: ConnectionId) {
        self.liveness.0.remove(&connection);
    }

    /// Close the connections silent for longer than the liveness timeout,
    /// and check again after the interval.
    pub(super) fn check_liveness(&mut self) {
        let timeout = self.handle.config.liveness_timeout;
        let now = Instant::now();
        let silent: Vec<(ConnectionId, PeerId)> = self
            .liveness
            .0
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) > timeout)
            .map(|(c, (p, _))| (*c, *p))
            .collect();
        for (connection, peer) in silent {
            tracing::debug!(%peer, "closing a connection silent for over {timeout:?}");
            self.liveness.0.remove(&connection);
            self.swarm.close_connection(connection);
        }
        self.schedule(self.handle.config.liveness_interval, Due::Liveness);
    }
}
