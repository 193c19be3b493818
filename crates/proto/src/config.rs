//! Per-topic protocol parameters, with their defaults and validation.

use std::collections::BTreeSet;
use std::time::Duration;

use super::ConfigError;

/// HyParView membership parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct HyParViewConfig {
    /// Maximum size of the active view (the peers messages flow through).
    pub active_view_capacity: usize,
    /// Below this many active peers the node also dials peers from its
    /// known-peers cache, not just from its passive view.
    pub active_view_min: usize,
    /// Maximum size of the passive view (backup peers).
    pub passive_view_capacity: usize,
    /// Active random walk length (ARWL): hops a FORWARD_JOIN travels.
    pub active_random_walk_length: u8,
    /// Passive random walk length (PRWL): the hop at which a FORWARD_JOIN adds
    /// the new node to the passive view.
    pub passive_random_walk_length: u8,
    /// Active peers sampled into a shuffle (ka).
    pub shuffle_active_count: usize,
    /// Passive peers sampled into a shuffle (kp).
    pub shuffle_passive_count: usize,
    /// Hops a SHUFFLE travels before it is answered.
    pub shuffle_random_walk_length: u8,
    /// Mean time between shuffles (jittered ±50 %).
    pub shuffle_interval: Duration,
    /// Time between view-maintenance rounds (jittered ±50 %).
    pub maintenance_interval: Duration,
    /// A NEIGHBOR request unanswered for this long counts as failed.
    pub neighbor_request_timeout: Duration,
    /// Maximum size of the known-peers cache: peers met through the overlay,
    /// kept after they leave the passive view, used to rejoin and to re-merge
    /// partitions.
    pub known_peers_capacity: usize,
    /// First delay before a failed known peer is probed again; doubles on
    /// every further failure up to `probe_backoff_max`.
    pub probe_backoff_initial: Duration,
    /// Longest delay between two probes of one failed known peer.
    pub probe_backoff_max: Duration,
    /// First delay before retrying the bootstrap peers; doubles on every
    /// failed round up to `join_retry_max`.
    pub join_retry_initial: Duration,
    /// Longest delay between two join attempts.
    pub join_retry_max: Duration,
}

impl Default for HyParViewConfig {
    fn default() -> Self {
        HyParViewConfig {
            active_view_capacity: 5,
            active_view_min: 2,
            passive_view_capacity: 30,
            active_random_walk_length: 6,
            passive_random_walk_length: 3,
            shuffle_active_count: 3,
            shuffle_passive_count: 4,
            shuffle_random_walk_length: 6,
            shuffle_interval: Duration::from_secs(10),
            maintenance_interval: Duration::from_secs(1),
            neighbor_request_timeout: Duration::from_secs(3),
            known_peers_capacity: 256,
            probe_backoff_initial: Duration::from_secs(5),
            probe_backoff_max: Duration::from_secs(300),
            join_retry_initial: Duration::from_millis(500),
            join_retry_max: Duration::from_secs(30),
        }
    }
}

/// Plumtree broadcast parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PlumtreeConfig {
    /// Largest frame on the wire, framing included. A publish whose frame
    /// would be larger fails with `MessageTooLarge`; larger incoming frames
    /// are rejected by the decoder.
    pub max_message_size: usize,
    /// A message is not relayed past this many hops.
    pub max_hops: u16,
    /// Shortest wait for an announced message before grafting it. The wait
    /// adapts: each node learns how far eager copies trail their
    /// announcements and waits that long (with a margin), up to
    /// `graft_timeout_max`, so slow tree paths do not cause spurious grafts.
    pub graft_timeout_1: Duration,
    /// Longest adaptive wait before grafting.
    pub graft_timeout_max: Duration,
    /// Wait this long after a graft before grafting from the next announcer.
    pub graft_timeout_2: Duration,
    /// IHAVE announcements are batched per peer and sent after this delay.
    pub ihave_interval: Duration,
    /// An eager link that has delivered first copies is pruned only after
    /// this many duplicates in a row (links that never delivered a first copy
    /// are pruned at the first duplicate, and so is every eager link of a
    /// node while a quarter of the copies it recently received over eager
    /// links were duplicates: they form cycles, as in a fresh overlay or
    /// after repairs). Above 1, broadcasts from different senders meeting on
    /// different links of one cycle no longer cut the tree apart; 5 keeps
    /// the tree in one piece under random senders (README, "Trees").
    pub duplicates_before_prune: u8,
    /// Tree optimisation: when a lazy peer announces a message at least this
    /// many hops closer to its origin than the eager copy was, the two links
    /// swap roles. `0` (the default) disables optimisation: in simulation it
    /// gained nothing for a single sender (the first broadcast already builds
    /// a latency-shortest tree) and, with many senders, concurrent swaps for
    /// different origins cut the tree apart (random-sender RMR 0.14 -> 0.6).
    pub optimization_threshold: u16,
    /// Messages are pushed to every neighbour this node tells, not only along
    /// the tree, while their hops are below this (`0`, the default: the tree
    /// alone). Copies that arrive within these first hops neither prune nor
    /// graft links: the flood near the origin leaves the tree as it was.
    /// A candidate for shallower random-sender trees (simulator figures in
    /// the README); it costs about `active_view`^hops copies per message.
    pub eager_hops: u16,
    /// Trees of their own for up to this many origins (`0`, the default: one
    /// shared tree for every origin; 64 suits a topic where a few dozen
    /// senders publish again and again). An origin's first message travels the
    /// shared tree; from its second on, its messages travel a tree of its
    /// own, which starts as a copy of the shared tree and is reshaped for
    /// that origin alone: duplicates prune it (PRUNE_ORIGIN), and a
    /// neighbour announcing its messages two hops closer joins it
    /// (GRAFT_ORIGIN). Origins seen once are forgotten first, then the
    /// least recently active tree. Each costs about 300 bytes
    /// (`docs/PROTOCOL.md`, "Origin trees").
    pub origin_trees: usize,
    /// Messages older than this (summed holding time along their path) are
    /// neither delivered nor relayed.
    pub max_message_age: Duration,
    /// How long a received message is kept to answer GRAFTs and to be
    /// announced to new neighbours (as long as `max_message_age` by default,
    /// so that messages published during a partition of up to that long
    /// reach the other side once it heals).
    pub message_cache_ttl: Duration,
    /// Maximum number of messages kept to answer GRAFTs.
    pub message_cache_capacity: usize,
    /// Maximum payload bytes kept to answer GRAFTs.
    pub message_cache_max_bytes: usize,
    /// How long the deduplication record of a session (an origin's
    /// numbering since it joined) is kept after its last message, and how
    /// long message ids are remembered to answer announcements. Must exceed
    /// `max_message_age` by at least `max_link_delay`.
    pub seen_ttl: Duration,
    /// The most time a message is assumed to spend on links along its path
    /// (which its age does not count). A gap in a session's numbers is closed
    /// once a later message is `max_message_age + max_link_delay` old.
    pub max_link_delay: Duration,
    /// Sessions (origin, session) whose delivered numbers are tracked. Each
    /// costs about 100 bytes plus 24 per gap. When full, the least recently
    /// active is evicted, and messages of unknown sessions published before
    /// that eviction (plus `max_link_delay`) are refused, so nothing is
    /// delivered twice: only more concurrent publishers than this bound ever
    /// see a message refused.
    pub max_sessions: usize,
    /// Gaps (numbers not delivered while later ones were) kept per session;
    /// beyond it the oldest gap is closed and counted (its message, should it
    /// come, is refused).
    pub max_gaps_per_session: usize,
    /// Message ids remembered (for `seen_ttl`) to tell whether an announced
    /// message is already here; forgetting one costs a needless GRAFT, never
    /// a second delivery.
    pub recent_ids_capacity: usize,
    /// How far before this node joined a message may have been published and
    /// still be fetched from announcements. Zero (the default): only
    /// messages published after the join (give or take a second of link
    /// delay) are delivered; a node that joins or restarts does not replay
    /// its neighbours' history. Messages pushed to it eagerly are delivered
    /// whatever their age.
    pub catch_up: Duration,
    /// Maximum number of announced-but-missing messages tracked.
    pub missing_capacity: usize,
    /// Announcers remembered per missing message.
    pub announcers_per_message: usize,
    /// When a neighbour comes up, announce this many of the most recent cached
    /// messages to it, so a broadcast in flight survives neighbour failures.
    pub announce_on_neighbor_up: usize,
    /// New messages held while the driver verifies and validates them
    /// ([`crate::Output::Validate`]). When full, a new message is not taken
    /// (nor recorded as seen): it can still arrive again, by announcement
    /// from another neighbour.
    pub max_pending: usize,
    /// A message whose verdict has not come back this long is given up (as if
    /// ignored). The runtime's validators are cut off at this time.
    pub validation_timeout: Duration,
    /// In signed topics, how far an origin's clock may be from this node's.
    /// A signed message's time bounds its age: one timed more than this in
    /// the future is refused, and its age counts as at least this node's
    /// time minus its time minus this skew, whatever age it claims.
    pub max_clock_skew: Duration,
    /// Proxy passing (plausible deniability), in unsigned topics only: each
    /// message this node publishes, or is handed to publish, goes with even
    /// chance to one random neighbour this node tells, which publishes it as
    /// if it were its own (or, if it proxies too, hands it on with the same
    /// chance). The message's first appearance in the overlay then says
    /// nothing certain about who wrote it. Off by default.
    pub proxy: bool,
    /// How long a neighbour handed a message to publish (proxy passing) has
    /// to show it in the overlay (this node receives it, or an announcement
    /// of it) before the hand-off goes to another neighbour. After
    /// [`PROXY_ATTEMPTS`] neighbours, this node publishes it itself.
    pub proxy_timeout: Duration,
}

/// Neighbours one node hands a message to (proxy passing) before it
/// publishes the message itself.
pub const PROXY_ATTEMPTS: usize = 3;

impl Default for PlumtreeConfig {
    fn default() -> Self {
        PlumtreeConfig {
            max_message_size: 64 * 1024,
            max_hops: 64,
            graft_timeout_1: Duration::from_millis(150),
            graft_timeout_max: Duration::from_secs(1),
            graft_timeout_2: Duration::from_millis(75),
            ihave_interval: Duration::from_millis(100),
            duplicates_before_prune: 5,
            optimization_threshold: 0,
            eager_hops: 0,
            origin_trees: 0,
            max_message_age: Duration::from_secs(60),
            message_cache_ttl: Duration::from_secs(60),
            message_cache_capacity: 4096,
            message_cache_max_bytes: 32 * 1024 * 1024,
            seen_ttl: Duration::from_secs(120),
            max_link_delay: Duration::from_secs(5),
            max_sessions: 4096,
            max_gaps_per_session: 256,
            recent_ids_capacity: 1 << 16,
            catch_up: Duration::ZERO,
            missing_capacity: 4096,
            announcers_per_message: 4,
            announce_on_neighbor_up: 256,
            max_pending: 1024,
            validation_timeout: Duration::from_secs(2),
            max_clock_skew: Duration::from_secs(25),
            proxy: false,
            proxy_timeout: Duration::from_secs(2),
        }
    }
}

/// Everything that configures one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolConfig<PI> {
    /// Membership: view sizes, walks, shuffles, timers.
    pub hyparview: HyParViewConfig,
    /// Broadcast: message size, hops, graft timers, caches.
    pub plumtree: PlumtreeConfig,
    /// When set, only these peers may enter the views; messages from anyone
    /// else are dropped and their JOIN/NEIGHBOR requests refused. The
    /// shorthand for `hear` = `tell` = this set (with either also set, a
    /// peer must be in both).
    pub allowed_peers: Option<BTreeSet<PI>>,
    /// Whom this node takes data from (`None`: anyone). GOSSIP and IHAVE
    /// from a neighbour outside it are dropped, neither delivered nor
    /// relayed, and a neighbour pushing to this node is told PRUNE.
    pub hear: Option<BTreeSet<PI>>,
    /// Whom this node gives data to (`None`: anyone). A neighbour outside
    /// it is never pushed or announced a message, and its GRAFTs are not
    /// answered. A peer outside both `hear` and `tell` never enters the
    /// views.
    pub tell: Option<BTreeSet<PI>>,
    /// Every message carries its origin's signature ([`crate::Auth`]): this
    /// node signs what it publishes (with the signer given to
    /// [`crate::State::set_signer`]), and holds every new message for the
    /// driver to verify ([`crate::Output::Validate`]). Unsigned messages are
    /// refused. Off by default here (the simulator's peers have no keys); the
    /// libp2p runtime turns it on for new topics.
    pub signed: bool,
    /// Hold every new message for the driver's verdict
    /// ([`crate::Output::Validate`]) before delivering or relaying it: an
    /// application validator. Signed topics are always held.
    pub validation: bool,
    /// The origin this node's messages name, instead of its own id. Only
    /// for unsigned topics: the libp2p runtime gives each join of an
    /// unsigned topic a fresh random id here, so its messages do not name
    /// their publisher.
    pub publish_as: Option<PI>,
}

impl<PI> ProtocolConfig<PI> {
    /// Whether new messages wait for the driver's verdict.
    pub fn holds_messages(&self) -> bool {
        self.signed || self.validation
    }
}

fn within<PI: Ord>(set: &Option<BTreeSet<PI>>, peer: &PI) -> bool {
    set.as_ref().is_none_or(|s| s.contains(peer))
}

impl<PI: Ord> ProtocolConfig<PI> {
    /// Whether this node takes data from `peer` (`allowed_peers` and `hear`).
    pub fn hears(&self, peer: &PI) -> bool {
        within(&self.allowed_peers, peer) && within(&self.hear, peer)
    }

    /// Whether this node gives data to `peer` (`allowed_peers` and `tell`).
    pub fn tells(&self, peer: &PI) -> bool {
        within(&self.allowed_peers, peer) && within(&self.tell, peer)
    }

    /// Whether `peer` may enter the views: it is heard or told.
    pub fn admits(&self, peer: &PI) -> bool {
        self.hears(peer) || self.tells(peer)
    }
}

impl<PI: PartialEq> ProtocolConfig<PI> {
    /// `Ok` if a joined topic may change from this configuration to `new`
    /// (see [`crate::State::configure`]): everything may change but signing,
    /// validation, `publish_as`, the message size, and the bounds the
    /// deduplication guarantee rests on (`max_message_age`, `seen_ttl`,
    /// `max_link_delay`, `max_clock_skew`, `max_sessions`,
    /// `max_gaps_per_session`, `recent_ids_capacity`) and `max_pending`.
    pub fn check_change(&self, new: &Self) -> Result<(), ConfigError> {
        const FIXED: &str = "cannot change after joining (leave and join again)";
        let (a, b) = (&self.plumtree, &new.plumtree);
        let fixed: [(&'static str, bool, String); 12] = [
            ("signed", self.signed == new.signed, new.signed.to_string()),
            ("validation", self.validation == new.validation, new.validation.to_string()),
            ("publish_as", self.publish_as == new.publish_as, "(changed)".into()),
            ("plumtree.max_message_size", a.max_message_size == b.max_message_size, b.max_message_size.to_string()),
            ("plumtree.max_message_age", a.max_message_age == b.max_message_age, ms(b.max_message_age)),
            ("plumtree.seen_ttl", a.seen_ttl == b.seen_ttl, ms(b.seen_ttl)),
            ("plumtree.max_link_delay", a.max_link_delay == b.max_link_delay, ms(b.max_link_delay)),
            ("plumtree.max_clock_skew", a.max_clock_skew == b.max_clock_skew, ms(b.max_clock_skew)),
            ("plumtree.max_sessions", a.max_sessions == b.max_sessions, b.max_sessions.to_string()),
            (
                "plumtree.max_gaps_per_session",
                a.max_gaps_per_session == b.max_gaps_per_session,
                b.max_gaps_per_session.to_string(),
            ),
            (
                "plumtree.recent_ids_capacity",
                a.recent_ids_capacity == b.recent_ids_capacity,
                b.recent_ids_capacity.to_string(),
            ),
            ("plumtree.max_pending", a.max_pending == b.max_pending, b.max_pending.to_string()),
        ];
        for (field, same, value) in fixed {
            ConfigError::check(same, field, value, FIXED)?;
        }
        Ok(())
    }
}

impl<PI> Default for ProtocolConfig<PI> {
    fn default() -> Self {
        ProtocolConfig {
            hyparview: HyParViewConfig::default(),
            plumtree: PlumtreeConfig::default(),
            allowed_peers: None,
            hear: None,
            tell: None,
            signed: false,
            validation: false,
            publish_as: None,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl HyParViewConfig {
    /// `Ok` if every value is in range; else the first that is not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(
            (1..=64).contains(&self.active_view_capacity),
            "hyparview.active_view_capacity",
            self.active_view_capacity,
            "must be between 1 and 64",
        )?;
        ConfigError::check(
            self.active_view_min <= self.active_view_capacity,
            "hyparview.active_view_min",
            self.active_view_min,
            "must not exceed active_view_capacity",
        )?;
        ConfigError::check(
            (1..=1024).contains(&self.passive_view_capacity),
            "hyparview.passive_view_capacity",
            self.passive_view_capacity,
            "must be between 1 and 1024",
        )?;
        ConfigError::check(
            (1..=32).contains(&self.active_random_walk_length),
            "hyparview.active_random_walk_length",
            self.active_random_walk_length,
            "must be between 1 and 32",
        )?;
        ConfigError::check(
            self.passive_random_walk_length <= self.active_random_walk_length,
            "hyparview.passive_random_walk_length",
            self.passive_random_walk_length,
            "must not exceed active_random_walk_length",
        )?;
        ConfigError::check(
            self.shuffle_active_count <= self.active_view_capacity,
            "hyparview.shuffle_active_count",
            self.shuffle_active_count,
            "must not exceed active_view_capacity",
        )?;
        ConfigError::check(
            self.shuffle_passive_count <= self.passive_view_capacity,
            "hyparview.shuffle_passive_count",
            self.shuffle_passive_count,
            "must not exceed passive_view_capacity",
        )?;
        ConfigError::check(
            self.shuffle_random_walk_length <= 32,
            "hyparview.shuffle_random_walk_length",
            self.shuffle_random_walk_length,
            "must be at most 32",
        )?;
        for (field, d) in [
            ("hyparview.shuffle_interval", self.shuffle_interval),
            ("hyparview.maintenance_interval", self.maintenance_interval),
            ("hyparview.neighbor_request_timeout", self.neighbor_request_timeout),
            ("hyparview.probe_backoff_initial", self.probe_backoff_initial),
            ("hyparview.probe_backoff_max", self.probe_backoff_max),
            ("hyparview.join_retry_initial", self.join_retry_initial),
            ("hyparview.join_retry_max", self.join_retry_max),
        ] {
            ConfigError::check_duration(field, d)?;
        }
        ConfigError::check(
            self.probe_backoff_max >= self.probe_backoff_initial,
            "hyparview.probe_backoff_max",
            ms(self.probe_backoff_max),
            "must not be below probe_backoff_initial",
        )?;
        ConfigError::check(
            self.join_retry_max >= self.join_retry_initial,
            "hyparview.join_retry_max",
            ms(self.join_retry_max),
            "must not be below join_retry_initial",
        )?;
        ConfigError::check(
            (self.active_view_capacity + self.passive_view_capacity..=65_536).contains(&self.known_peers_capacity),
            "hyparview.known_peers_capacity",
            self.known_peers_capacity,
            "must hold the active and passive views and be at most 65536",
        )
    }
}

impl PlumtreeConfig {
    /// Smallest accepted `max_message_size`: room for framing plus a payload.
    pub const MIN_MESSAGE_SIZE: usize = 256;
    /// Largest accepted `max_message_size`.
    pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
    /// The most origin trees a topic may keep.
    pub const MAX_ORIGIN_TREES: usize = 1 << 16;

    /// `Ok` if every value is in range; else the first that is not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(
            (Self::MIN_MESSAGE_SIZE..=Self::MAX_MESSAGE_SIZE).contains(&self.max_message_size),
            "plumtree.max_message_size",
            self.max_message_size,
            "must be between 256 and 16777216 bytes",
        )?;
        ConfigError::check(self.max_hops >= 1, "plumtree.max_hops", self.max_hops, "must be at least 1")?;
        ConfigError::check(
            self.duplicates_before_prune >= 1,
            "plumtree.duplicates_before_prune",
            self.duplicates_before_prune,
            "must be at least 1",
        )?;
        ConfigError::check(
            self.origin_trees <= Self::MAX_ORIGIN_TREES,
            "plumtree.origin_trees",
            self.origin_trees,
            "must be at most 65536",
        )?;
        for (field, d) in [
            ("plumtree.graft_timeout_1", self.graft_timeout_1),
            ("plumtree.graft_timeout_2", self.graft_timeout_2),
            ("plumtree.graft_timeout_max", self.graft_timeout_max),
            ("plumtree.ihave_interval", self.ihave_interval),
            ("plumtree.message_cache_ttl", self.message_cache_ttl),
            ("plumtree.max_message_age", self.max_message_age),
            ("plumtree.seen_ttl", self.seen_ttl),
            ("plumtree.max_link_delay", self.max_link_delay),
            ("plumtree.validation_timeout", self.validation_timeout),
            ("plumtree.proxy_timeout", self.proxy_timeout),
        ] {
            ConfigError::check_duration(field, d)?;
        }
        ConfigError::check(
            self.catch_up <= self.max_message_age,
            "plumtree.catch_up",
            ms(self.catch_up),
            "must not exceed max_message_age",
        )?;
        ConfigError::check(
            self.graft_timeout_max >= self.graft_timeout_1,
            "plumtree.graft_timeout_max",
            ms(self.graft_timeout_max),
            "must not be below graft_timeout_1",
        )?;
        ConfigError::check(
            !self.proxy || self.proxy_timeout * (PROXY_ATTEMPTS as u32) < self.max_message_age,
            "plumtree.proxy_timeout",
            ms(self.proxy_timeout),
            "must be below max_message_age / 3: a message goes to at most 3 proxies in turn, and must still be young \
             enough to publish after the last",
        )?;
        ConfigError::check(
            self.max_message_age >= self.message_cache_ttl,
            "plumtree.max_message_age",
            ms(self.max_message_age),
            "must be at least message_cache_ttl",
        )?;
        ConfigError::check(
            self.seen_ttl >= self.max_message_age + self.max_link_delay,
            "plumtree.seen_ttl",
            ms(self.seen_ttl),
            "must exceed max_message_age by at least max_link_delay",
        )?;
        for (field, n) in [
            ("plumtree.message_cache_capacity", self.message_cache_capacity),
            ("plumtree.max_sessions", self.max_sessions),
            ("plumtree.max_gaps_per_session", self.max_gaps_per_session),
            ("plumtree.recent_ids_capacity", self.recent_ids_capacity),
            ("plumtree.missing_capacity", self.missing_capacity),
            ("plumtree.announcers_per_message", self.announcers_per_message),
            ("plumtree.max_pending", self.max_pending),
        ] {
            ConfigError::check((1..=1 << 24).contains(&n), field, n, "must be between 1 and 16777216")?;
        }
        ConfigError::check(
            self.message_cache_max_bytes >= self.max_message_size,
            "plumtree.message_cache_max_bytes",
            self.message_cache_max_bytes,
            "must hold at least one message of max_message_size",
        )
    }
}

impl<PI> ProtocolConfig<PI> {
    /// `Ok` if every value is in range; else the first that is not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.hyparview.validate()?;
        self.plumtree.validate()?;
        ConfigError::check(
            !(self.signed && self.publish_as.is_some()),
            "publish_as",
            "Some(..)",
            "must be None in a signed topic: a signed message names its signer",
        )?;
        ConfigError::check(
            !(self.signed && self.plumtree.proxy),
            "plumtree.proxy",
            true,
            "requires an unsigned topic: a signed message names its author, so passing it to a proxy hides nothing",
        )?;
        let p = &self.plumtree;
        ConfigError::check(
            !self.signed || p.seen_ttl >= p.max_message_age + p.max_link_delay + p.max_clock_skew,
            "plumtree.seen_ttl",
            ms(p.seen_ttl),
            "must exceed max_message_age by at least max_link_delay plus max_clock_skew in a signed topic",
        )
    }
}
