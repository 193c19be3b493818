// The hand-written layer over the uniffi-generated hypar.swift: an
// AsyncSequence of a topic's messages and closure handlers.
//
// Not compiled on the machine it was written on (no Swift toolchain there):
// keep it small, and build it on macOS after every change.

import Foundation

extension HyparTopic {
    /// The topic's messages in arrival order, for `for try await`:
    ///
    ///     for try await message in topic.messages { ... }
    ///
    /// Each step awaits `nextMessage()`, so messages wait in the library's
    /// bounded queue until asked for. The sequence ends once the topic is left
    /// or its network shut down; it throws `HyparError.InvalidArgument` for a
    /// topic joined with a handler. Each message goes to one iterator only.
    ///
    /// uniffi's Swift futures ignore task cancellation: a cancelled iteration
    /// ends when its pending `nextMessage()` returns (next message, or
    /// `leave()`). Call `leave()` to end an iteration promptly.
    public var messages: AsyncThrowingStream<Data, Error> {
        AsyncThrowingStream(unfolding: { try await self.nextMessage() })
    }
}

extension HyparNetwork {
    /// Join `topic` through `bootstrap` (multiaddrs; empty: this node
    /// bootstraps others) without a handler: read the messages with
    /// `messages` or `nextMessage()`.
    public func join(topic: String, bootstrap: [String] = []) throws -> HyparTopic {
        try join(topic: topic, bootstrap: bootstrap, handler: nil)
    }

    /// Join `topic` through `bootstrap` and pass every message to
    /// `onMessage`, one call at a time, on a thread the library owns.
    public func join(
        topic: String,
        bootstrap: [String] = [],
        onMessage: @escaping @Sendable (Data) -> Void
    ) throws -> HyparTopic {
        try join(topic: topic, bootstrap: bootstrap, handler: ClosureMessageHandler(onMessage))
    }

    /// Pass every event of every topic to `onEvent` (replacing any previous
    /// handler), on a library thread. `setEventHandler(handler: nil)` stops
    /// event delivery.
    public func setEventHandler(_ onEvent: @escaping @Sendable (NetworkEvent) -> Void) throws {
        try setEventHandler(handler: ClosureEventHandler(onEvent))
    }
}

private final class ClosureMessageHandler: MessageHandler {
    private let body: @Sendable (Data) -> Void

    init(_ body: @escaping @Sendable (Data) -> Void) {
        self.body = body
    }

    func onMessage(data: Data) {
        body(data)
    }
}

private final class ClosureEventHandler: EventHandler {
    private let body: @Sendable (NetworkEvent) -> Void

    init(_ body: @escaping @Sendable (NetworkEvent) -> Void) {
        self.body = body
    }

    func onEvent(event: NetworkEvent) {
        body(event)
    }
}
