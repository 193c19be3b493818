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
    public var messages: AsyncThrowingStream<Message, Error> {
        AsyncThrowingStream(unfolding: { try await self.nextMessage() })
    }
}

extension HyparNetwork {
    /// Join `topic` through `bootstrap` (multiaddrs; empty: this node
    /// bootstraps others) without a handler: read the messages with
    /// `messages` or `nextMessage()`. `options` default to a signed topic;
    /// with a `validator`, only what it accepts is delivered and relayed.
    public func join(
        topic: String,
        bootstrap: [String] = [],
        options: TopicOptions? = nil,
        validator: (@Sendable (Message) -> Verdict)? = nil
    ) throws -> HyparTopic {
        try join(topic: topic, bootstrap: bootstrap, handler: nil, options: options,
                 validator: validator.map(ClosureValidator.init))
    }

    /// Join `topic` through `bootstrap` and pass every message to
    /// `onMessage`, one call at a time, on a thread the library owns.
    public func join(
        topic: String,
        bootstrap: [String] = [],
        options: TopicOptions? = nil,
        validator: (@Sendable (Message) -> Verdict)? = nil,
        onMessage: @escaping @Sendable (Message) -> Void
    ) throws -> HyparTopic {
        try join(topic: topic, bootstrap: bootstrap, handler: ClosureMessageHandler(onMessage),
                 options: options, validator: validator.map(ClosureValidator.init))
    }

    /// Pass every event of every topic to `onEvent` (replacing any previous
    /// handler), on a library thread. `setEventHandler(handler: nil)` stops
    /// event delivery.
    public func setEventHandler(_ onEvent: @escaping @Sendable (NetworkEvent) -> Void) throws {
        try setEventHandler(handler: ClosureEventHandler(onEvent))
    }
}

private final class ClosureMessageHandler: MessageHandler {
    private let body: @Sendable (Message) -> Void

    init(_ body: @escaping @Sendable (Message) -> Void) {
        self.body = body
    }

    func onMessage(message: Message) {
        body(message)
    }
}

private final class ClosureValidator: MessageValidator {
    private let body: @Sendable (Message) -> Verdict

    init(_ body: @escaping @Sendable (Message) -> Verdict) {
        self.body = body
    }

    func validate(message: Message) -> Verdict {
        body(message)
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
