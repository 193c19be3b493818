// The hand-written, idiomatic layer over the uniffi-generated `uniffi.hypar`
// package: a Flow of a topic's messages, lambda handlers, and topics whose
// close() leaves them even while a nextMessage() is pending.
//
//     HyparNetwork(NetworkConfig(listen = listOf("/ip4/0.0.0.0/tcp/0"))).use { net ->
//         net.join("chat", bootstrap).use { topic ->
//             topic.gossip("hello")
//             topic.messages().collect { println("${it.origin}: ${it.data.decodeToString()}") }
//         }
//     }
@file:JvmName("Hypar")

package hypar

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import uniffi.hypar.EventHandler
import uniffi.hypar.HyparNetwork
import uniffi.hypar.HyparTopic
import uniffi.hypar.Message
import uniffi.hypar.MessageHandler
import uniffi.hypar.MessageValidator
import uniffi.hypar.NetworkEvent
import uniffi.hypar.TopicOptions
import uniffi.hypar.UniffiWithHandle
import uniffi.hypar.Verdict

/**
 * The topic's messages, in arrival order, as a cold [Flow] over
 * [HyparTopic.nextMessage]. The flow completes once the topic is left
 * (closed) or its network shut down; cancelling the collector leaves the topic
 * joined. Only for topics joined without a handler: otherwise collecting
 * throws [uniffi.hypar.HyparException.InvalidArgument].
 *
 * Every message is taken by exactly one collector: two concurrent collectors
 * of the same topic split the messages between them.
 */
fun HyparTopic.messages(): Flow<Message> = flow {
    while (true) {
        // A close() racing the next call ends the flow too: the closed
        // object refuses the call (IllegalStateException) instead of
        // returning null.
        val message = try {
            nextMessage()
        } catch (_: IllegalStateException) {
            null
        } ?: break
        emit(message)
    }
}

/**
 * Join [topic] through [bootstrap] (multiaddrs; empty: this node bootstraps
 * others) and read its messages with [messages] or [HyparTopic.nextMessage].
 * The topic's close() leaves it, also while a nextMessage() is pending.
 *
 * [options] default to a signed topic: every [Message] names its verified
 * [Message.origin]. With a [validator], each new message is judged first (on
 * a library thread) and only [Verdict.ACCEPT]ed ones are delivered and
 * relayed; an exception it throws counts as [Verdict.IGNORE] and goes to the
 * thread's uncaught exception handler.
 */
fun HyparNetwork.join(
    topic: String,
    bootstrap: List<String> = emptyList(),
    validator: ((Message) -> Verdict)? = null,
    options: TopicOptions? = null,
): HyparTopic = join(topic, bootstrap, null, options, validator?.let(::judging)).leavingOnClose()

/**
 * Join [topic] through [bootstrap] and pass every message to [onMessage], one
 * call at a time, on a thread the library owns. An exception [onMessage]
 * throws goes to that thread's uncaught exception handler (by default printed
 * to stderr) and the next message is delivered as usual. The topic's close()
 * leaves it; once close() or leave() returns, [onMessage] is not called again.
 * [options] and [validator] as for the other [join].
 */
fun HyparNetwork.join(
    topic: String,
    bootstrap: List<String> = emptyList(),
    validator: ((Message) -> Verdict)? = null,
    options: TopicOptions? = null,
    onMessage: (Message) -> Unit,
): HyparTopic {
    val handler = object : MessageHandler {
        override fun onMessage(message: Message) = reportingExceptions { onMessage(message) }
    }
    return join(topic, bootstrap, handler, options, validator?.let(::judging)).leavingOnClose()
}

private fun judging(validate: (Message) -> Verdict) = object : MessageValidator {
    override fun validate(message: Message): Verdict {
        var verdict = Verdict.IGNORE
        reportingExceptions { verdict = validate(message) }
        return verdict
    }
}

/**
 * Pass every event of every topic to [onEvent] (replacing any previous
 * handler), on a library thread, with exceptions handled as for message
 * handlers. `setEventHandler(null)` stops event delivery.
 */
fun HyparNetwork.setEventHandler(onEvent: (NetworkEvent) -> Unit) {
    setEventHandler(object : EventHandler {
        override fun onEvent(event: NetworkEvent) = reportingExceptions { onEvent(event) }
    })
}

/** Publish [text], UTF-8 encoded. */
fun HyparTopic.gossip(text: String) = gossip(text.encodeToByteArray())

private inline fun reportingExceptions(block: () -> Unit) {
    try {
        block()
    } catch (e: Exception) {
        val thread = Thread.currentThread()
        thread.uncaughtExceptionHandler?.uncaughtException(thread, e)
    }
}

/**
 * The generated close()/destroy() only drops this handle to the Rust object;
 * the Rust topic (and with it the membership) goes away with the last
 * handle, and a pending nextMessage() holds one. This subclass leaves first,
 * which also ends a pending nextMessage() (it returns null) and so a
 * collecting [messages] flow.
 */
private class LeavingTopic(handle: Long) : HyparTopic(UniffiWithHandle, handle) {
    override fun destroy() {
        if (!uniffiIsDestroyed) {
            try {
                leave()
            } catch (_: IllegalStateException) {
                // destroyed concurrently: the Rust side leaves on its own
            }
        }
        super.destroy()
    }
}

private fun HyparTopic.leavingOnClose(): HyparTopic {
    val topic = LeavingTopic(uniffiCloneHandle())
    destroy()
    return topic
}
