package hypar

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import uniffi.hypar.EventHandler
import uniffi.hypar.HyparException
import uniffi.hypar.Message
import uniffi.hypar.MessageHandler
import uniffi.hypar.NetworkEvent
import uniffi.hypar.NetworkEventKind
import java.util.Collections
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.atomic.AtomicInteger

/** close() / use {} release what they hold; handler exceptions do not stop delivery. */
@Timeout(120)
class CloseTest {
    /** a bootstraps; its events go to the returned queue. */
    private fun watched(nodes: Nodes) = nodes.node().let { a ->
        val events = LinkedBlockingQueue<NetworkEvent>()
        a.setEventHandler { events.put(it) }
        a to events
    }

    private fun LinkedBlockingQueue<NetworkEvent>.awaitEvent(kind: NetworkEventKind, peer: String) {
        while (true) {
            val e = take("$kind of $peer")
            if (e.kind == kind && e.peerId == peer) return
        }
    }

    @Test
    fun `use on a topic leaves it, and the other node sees the neighbour go`(): Unit = Nodes().use { nodes ->
        val (a, events) = watched(nodes)
        val ta = a.join("bye")
        val b = nodes.node()
        b.join("bye", a.listenAddrs()).use { tb ->
            events.awaitEvent(NetworkEventKind.NEIGHBOR_UP, b.peerId())
            eventually("b to see a") { tb.activeView() == 1L }
        }
        events.awaitEvent(NetworkEventKind.NEIGHBOR_DOWN, b.peerId())
        eventually("a's active view to drop to 0") { ta.activeView() == 0L }
        // b can join again: the topic really was left.
        b.join("bye", a.listenAddrs()).use {
            events.awaitEvent(NetworkEventKind.NEIGHBOR_UP, b.peerId())
        }
    }

    @Test
    fun `the generated close on a topic from the raw join leaves it too`(): Unit = Nodes().use { nodes ->
        val (a, events) = watched(nodes)
        val ta = a.join("raw", emptyList(), null)
        val b = nodes.node()
        b.join("raw", a.listenAddrs(), null).use {
            events.awaitEvent(NetworkEventKind.NEIGHBOR_UP, b.peerId())
        }
        events.awaitEvent(NetworkEventKind.NEIGHBOR_DOWN, b.peerId())
        eventually("a's active view to drop to 0") { ta.activeView() == 0L }
    }

    @Test
    fun `closing a topic ends a flow being collected`(): Unit = Nodes().use { nodes ->
        val (a, events) = watched(nodes)
        val ta = a.join("flow-close")
        val b = nodes.node()
        val tb = b.join("flow-close", a.listenAddrs())
        events.awaitEvent(NetworkEventKind.NEIGHBOR_UP, b.peerId())
        eventually("b to see a") { tb.activeView() == 1L }
        runBlocking(Dispatchers.Default) {
            val first = CompletableDeferred<Unit>()
            val collected = async { tb.messages().onEach { first.complete(Unit) }.toList().map { it.data.decodeToString() } }
            ta.gossip("one")
            withTimeout(PATIENCE) { first.await() }
            // The collector is (or soon will be) suspended in nextMessage()
            // again: close() must still leave, and end the flow. (Leaving
            // drops messages not yet taken, so wait for "one" to be taken.)
            tb.close()
            assertEquals(listOf("one"), withTimeout(PATIENCE) { collected.await() })
        }
        events.awaitEvent(NetworkEventKind.NEIGHBOR_DOWN, b.peerId())
    }

    @Test
    fun `use on a network shuts it down, and its topics throw ShutDown`(): Unit = Nodes().use { nodes ->
        val (a, events) = watched(nodes)
        val ta = a.join("net-close")
        val b = loopbackNode()
        val bId = b.peerId()
        val tb = b.join("net-close", a.listenAddrs()) { }
        val pulled = b.join("net-close-pull")
        b.use { events.awaitEvent(NetworkEventKind.NEIGHBOR_UP, bId) }
        assertThrows<IllegalStateException> { b.peerId() }
        assertThrows<HyparException.ShutDown> { tb.gossip(byteArrayOf(1)) }
        assertThrows<HyparException.ShutDown> { pulled.gossip(byteArrayOf(1)) }
        runBlocking { assertNull(pulled.nextMessage()) }
        runBlocking { assertEquals(emptyList<Message>(), pulled.messages().toList()) }
        events.awaitEvent(NetworkEventKind.NEIGHBOR_DOWN, bId)
        eventually("a's active view to drop to 0") { ta.activeView() == 0L }
        tb.close()
        pulled.close()
    }

    @Test
    fun `an exception in a MessageHandler does not stop later deliveries`(): Unit = Nodes().use { nodes ->
        val a = nodes.node()
        val b = nodes.node()
        val ta = a.join("throws")
        val got = Collections.synchronizedList(mutableListOf<String>())
        val tb = b.join("throws", a.listenAddrs(), object : MessageHandler {
            override fun onMessage(message: Message) {
                val text = message.data.decodeToString()
                got += text
                if (text.startsWith("boom")) throw IllegalStateException("handler failure on $text (expected by the test)")
            }
        })
        awaitNeighbours(mapOf("a" to ta, "b" to tb), mapOf("a" to 1, "b" to 1))
        val sent = listOf("boom-1", "fine-1", "boom-2", "fine-2")
        sent.forEach { ta.gossip(it) }
        eventually("b to receive all four messages") { got.size >= sent.size }
        assertEquals(sent.toSet(), got.toSet())
        tb.close()
    }

    @Test
    fun `an exception in a lambda handler goes to the uncaught exception handler`(): Unit = Nodes().use { nodes ->
        val a = nodes.node()
        val b = nodes.node()
        val ta = a.join("throws-lambda")
        val got = Collections.synchronizedList(mutableListOf<String>())
        val reported = Collections.synchronizedList(mutableListOf<Throwable>())
        val previous = Thread.getDefaultUncaughtExceptionHandler()
        Thread.setDefaultUncaughtExceptionHandler { _, e -> reported += e }
        try {
            val tb = b.join("throws-lambda", a.listenAddrs()) { message ->
                val text = message.data.decodeToString()
                got += text
                if (text.startsWith("boom")) throw IllegalArgumentException("lambda failure on $text")
            }
            awaitNeighbours(mapOf("a" to ta, "b" to tb), mapOf("a" to 1, "b" to 1))
            val sent = listOf("boom-1", "fine-1", "boom-2", "fine-2")
            sent.forEach { ta.gossip(it) }
            eventually("b to receive all four messages") { got.size >= sent.size }
            assertEquals(sent.toSet(), got.toSet())
            eventually("both failures reported") { reported.size >= 2 }
            assertEquals(
                setOf("lambda failure on boom-1", "lambda failure on boom-2"),
                reported.map { it.message }.toSet(),
            )
            tb.close()
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(previous)
        }
    }

    @Test
    fun `an exception in an EventHandler does not stop later events`(): Unit = Nodes().use { nodes ->
        val a = nodes.node()
        val seen = LinkedBlockingQueue<NetworkEvent>()
        val calls = AtomicInteger()
        a.setEventHandler(object : EventHandler {
            override fun onEvent(event: NetworkEvent) {
                seen.put(event)
                if (calls.incrementAndGet() == 1) throw IllegalStateException("event handler failure (expected by the test)")
            }
        })
        a.join("ev")
        val b = nodes.node()
        val c = nodes.node()
        b.join("ev", a.listenAddrs())
        val first = seen.take("a first event")
        c.join("ev", a.listenAddrs())
        val peers = mutableSetOf<String?>()
        var e = first
        while (true) {
            if (e.kind == NetworkEventKind.NEIGHBOR_UP) peers += e.peerId
            if (peers.containsAll(listOf(b.peerId(), c.peerId()))) break
            e = seen.take("NeighborUp of both b and c")
        }
        assertTrue(peers.containsAll(listOf(b.peerId(), c.peerId())))
    }
}
