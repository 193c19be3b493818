//! A network as both foreign faces hold it: start, join, events, counters
//! and shutdown, with the callback threads that go with them.

use std::sync::{Arc, Weak};

use hypar::{topic, Network};
use parking_lot::Mutex;

use super::topic::{validator_thread, Delivering};
use super::{
    parse_multiaddrs, CallbackSlot, CallbackThread, Delivery, ForeignError, ForeignTopic, NetworkConfig, NetworkEvent,
    NetworkStats, TopicOptions, Validator,
};

/// A node on the network, running on its own thread.
pub struct ForeignNetwork {
    net: Network,
    /// The thread that calls the event handler, if one is set.
    events: CallbackSlot,
    /// How the topics joined deliver, stopped at shutdown. Pruned of
    /// topics gone at each join.
    topics: Mutex<Vec<Weak<Delivering>>>,
    /// Bound of each topic's pull inbox (the network's subscriber queue).
    message_queue: usize,
}

impl ForeignNetwork {
    /// Start a node; returns once every listen address is bound.
    pub fn new(config: &NetworkConfig) -> Result<ForeignNetwork, ForeignError> {
        let (config, keypair) = config.resolve()?;
        let message_queue = config.subscriber_queue;
        let net = Network::new(config, keypair)?;
        Ok(ForeignNetwork { net, events: CallbackSlot::default(), topics: Mutex::default(), message_queue })
    }

    /// The Rust network underneath.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// `Err(Forked)` in a `fork`ed child of the process that started it.
    pub fn check_process(&self) -> Result<(), ForeignError> {
        if self.net.is_forked() {
            return Err(hypar::Error::Forked.into());
        }
        Ok(())
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> String {
        self.net.peer_id().to_string()
    }

    /// The bound listen addresses, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> Result<Vec<String>, ForeignError> {
        self.check_process()?;
        if self.net.is_shut_down() {
            return Err(hypar::Error::ShutDown.into());
        }
        Ok(self.net.listen_addrs().iter().map(|a| a.to_string()).collect())
    }

    /// Join `name` through `bootstrap` (multiaddrs) with `options`,
    /// delivering messages as `delivery` says and, with a `validator`,
    /// delivering and relaying only what it accepts.
    pub fn join(
        &self,
        name: &str,
        bootstrap: &[impl AsRef<str>],
        delivery: Delivery,
        options: &TopicOptions,
        validator: Option<Validator>,
    ) -> Result<ForeignTopic, ForeignError> {
        self.check_process()?;
        let bootstrap = parse_multiaddrs(bootstrap)?;
        let max_pending = topic::Config::default().protocol.plumtree.max_pending;
        let (validating, mut config) = match validator {
            Some(v) => {
                let (thread, config) = validator_thread(name, v, max_pending)?;
                (Some(thread), config)
            }
            None => (None, topic::Config::new(name, vec![])),
        };
        config.bootstrap = bootstrap;
        options.apply(&mut config.protocol)?;
        let joined = self.net.join(config)?;
        let topic = ForeignTopic::start(joined, delivery, self.message_queue, validating)?;
        let mut topics = self.topics.lock();
        topics.retain(|t| t.strong_count() > 0);
        topics.push(Arc::downgrade(topic.delivering()));
        Ok(topic)
    }

    /// Pass every event of every topic to `handler`, one call at a time on
    /// a library thread, replacing any previous handler; `None` stops event
    /// delivery.
    pub fn set_event_handler(&self, handler: Option<Box<dyn FnMut(NetworkEvent) + Send>>) -> Result<(), ForeignError> {
        self.events.stop();
        self.check_process()?;
        if self.net.is_shut_down() {
            return Err(hypar::Error::ShutDown.into());
        }
        if let Some(mut handler) = handler {
            let deliver = move |e: hypar::Event| {
                if let Some(e) = NetworkEvent::from_event(e) {
                    handler(e)
                }
            };
            let thread = CallbackThread::spawn("hypar-events".into(), self.net.events(), deliver)
                .map_err(|e| ForeignError::thread("event", e))?;
            self.events.replace(Some(thread));
        }
        Ok(())
    }

    /// Counters of the network and each topic.
    pub fn stats(&self) -> Result<NetworkStats, ForeignError> {
        Ok(self.net.stats()?.into())
    }

    /// Leave every topic, close every connection and stop the thread. Once
    /// it returns, no callback of this network or its topics starts (from a
    /// callback: except the one running). Topics become inert. Idempotent.
    pub fn shutdown(&self) {
        self.net.shutdown();
        self.events.stop();
        let topics = std::mem::take(&mut *self.topics.lock());
        for delivering in topics.iter().filter_map(Weak::upgrade) {
            delivering.stop();
        }
    }
}
