package hypar

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import uniffi.hypar.Message
import uniffi.hypar.TopicOptions
import uniffi.hypar.Verdict
import java.util.concurrent.LinkedBlockingQueue

/** Signed origins and validators from Kotlin, between real nodes over loopback. */
@Timeout(120)
class ValidationTest {
    private fun judge(m: Message): Verdict {
        val text = m.data.decodeToString()
        return when {
            text.startsWith("reject") -> Verdict.REJECT
            text.startsWith("ignore") -> Verdict.IGNORE
            text.startsWith("throw") -> throw IllegalStateException("a validator that throws")
            else -> Verdict.ACCEPT
        }
    }

    @Test
    fun `the validator decides, a throw counts as ignore, and messages name their origin`(): Unit = Nodes().use { nodes ->
        val (a, b) = nodes.node() to nodes.node()
        val received = LinkedBlockingQueue<Message>()
        a.join("judged").use { ta ->
            b.join("judged", a.listenAddrs(), validator = ::judge) { received.put(it) }.use { tb ->
                eventually("a neighbour") { ta.activeView() >= 1 }
                // Silence the expected throw's report on this thread's handler.
                val quiet = Thread.UncaughtExceptionHandler { _, _ -> }
                Thread.setDefaultUncaughtExceptionHandler(quiet)
                for (p in listOf("reject 1", "ignore 1", "throw 1", "accept 1")) ta.gossip(p)
                val m = received.take("the accepted message")
                assertEquals("accept 1", m.data.decodeToString())
                assertEquals(a.peerId(), m.origin)
                assertEquals(1, m.hops.toInt())
                val s = tb.stats()
                assertEquals(listOf(1UL, 1UL, 2UL), listOf(s.delivered, s.rejected, s.ignored))
                assertNull(received.poll())
            }
        }
    }

    @Test
    fun `an unsigned topic names no origin`(): Unit = Nodes().use { nodes ->
        val (a, b) = nodes.node() to nodes.node()
        val received = LinkedBlockingQueue<Message>()
        val unsigned = TopicOptions(signed = false)
        a.join("plain", options = unsigned).use { ta ->
            b.join("plain", a.listenAddrs(), options = unsigned) { received.put(it) }.use {
                eventually("a neighbour") { ta.activeView() >= 1 }
                ta.gossip("anon")
                val m = received.take("the message")
                assertEquals("anon", m.data.decodeToString())
                assertNull(m.origin)
            }
        }
    }
}
