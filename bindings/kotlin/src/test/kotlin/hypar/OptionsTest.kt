package hypar

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import uniffi.hypar.HyparException
import uniffi.hypar.HyparNetwork
import uniffi.hypar.Message
import uniffi.hypar.NetworkConfig
import uniffi.hypar.TopicOptions
import java.util.concurrent.LinkedBlockingQueue

/** Topic options from Kotlin, at join and while the topic runs, between real nodes over loopback. */
@Timeout(120)
class OptionsTest {
    @Test
    fun `options given at join read back, and bad ones are refused by name`(): Unit = Nodes().use { nodes ->
        val net = nodes.node()
        val options =
            TopicOptions(
                maxHops = 8u, activeView = 4u, passiveView = 20u, graftTimeoutMs = 200u, originTrees = 16u,
                duplicatesBeforePrune = 3u,
            )
        net.join("opts", options = options).use { t ->
            val c = t.config()
            assertEquals(listOf(8u, 4u, 20u, 16u), listOf(c.maxHops, c.activeView, c.passiveView, c.originTrees))
            assertEquals(200UL, c.graftTimeoutMs)
            assertEquals(3u, c.duplicatesBeforePrune)
            assertEquals(null, c.hear)
            val e = assertThrows<HyparException.InvalidConfig> { t.configure(c.copy(signed = false)) }
            assertTrue(e.message!!.contains("signed"), e.message)
            assertEquals(c, t.config())
            t.configure(c.copy(originTrees = 0u, duplicatesBeforePrune = 2u))
            assertEquals(0u, t.config().originTrees)
            assertEquals(2u, t.config().duplicatesBeforePrune)
            assertEquals(0UL, t.stats().originTrees)
        }
        net.join("defaults").use {
            assertEquals(0u, it.config().originTrees)
            assertEquals(5u, it.config().duplicatesBeforePrune)
        }
        val e = assertThrows<HyparException.InvalidArgument> { net.join("bad", options = TopicOptions(tell = listOf("nope"))) }
        assertTrue(e.message!!.contains("tell"), e.message)
        val tooMany = assertThrows<HyparException.InvalidConfig> { net.join("bad", options = TopicOptions(originTrees = 70000u)) }
        assertTrue(tooMany.message!!.contains("plumtree.origin_trees"), tooMany.message)
        val never = assertThrows<HyparException.InvalidConfig> {
            net.join("bad", options = TopicOptions(duplicatesBeforePrune = 0u))
        }
        assertTrue(never.message!!.contains("plumtree.duplicates_before_prune"), never.message)
    }

    @Test
    fun `nodes with LAN discovery on still join and deliver through a bootstrap address`() {
        // Loopback has no LAN to search; tests/hosts proves discovery between hosts.
        val config = NetworkConfig(listen = listOf(LOOPBACK), mdns = true)
        HyparNetwork(config).use { a ->
            HyparNetwork(config).use { b ->
                val received = LinkedBlockingQueue<Message>()
                a.join("lan").use { ta ->
                    b.join("lan", a.listenAddrs()) { received.put(it) }.use {
                        eventually("a neighbour") { ta.activeView() >= 1 }
                        ta.gossip("with discovery on")
                        assertEquals("with discovery on", received.take("the message").data.decodeToString())
                    }
                }
            }
        }
    }

    @Test
    fun `a node that stops hearing a peer drops its messages, and hears it again`(): Unit = Nodes().use { nodes ->
        val (a, b) = nodes.node() to nodes.node()
        val received = LinkedBlockingQueue<Message>()
        a.join("hear").use { ta ->
            b.join("hear", a.listenAddrs()) { received.put(it) }.use { tb ->
                eventually("a neighbour") { ta.activeView() >= 1 && tb.activeView() >= 1 }
                tb.configure(tb.config().copy(hear = listOf()))
                ta.gossip("not heard")
                eventually("the message dropped") { tb.stats().dropped >= 1UL }
                tb.configure(tb.config().copy(hear = null))
                ta.gossip("heard")
                assertEquals("heard", received.take("the next message").data.decodeToString())
            }
        }
    }

    @Test
    fun `a direct message reaches one neighbour, marked with its sender`(): Unit = Nodes().use { nodes ->
        val (a, b) = nodes.node() to nodes.node()
        val received = LinkedBlockingQueue<Message>()
        a.join("direct").use { ta ->
            b.join("direct", a.listenAddrs()) { received.put(it) }.use { tb ->
                eventually("a neighbour") { ta.activeView() >= 1 && tb.activeView() >= 1 }
                ta.send(b.peerId(), "psst".encodeToByteArray())
                val m = received.take("the direct message")
                assertEquals(listOf("psst", a.peerId(), "true"), listOf(m.data.decodeToString(), m.origin, m.direct.toString()))
                ta.gossipWithin("near".encodeToByteArray(), 1u)
                val n = received.take("the one-hop message")
                assertEquals("near" to false, n.data.decodeToString() to n.direct)
                val e = assertThrows<HyparException.InvalidArgument> { ta.send(a.peerId(), "me".encodeToByteArray()) }
                assertTrue(e.message!!.contains("not a neighbour"), e.message)
                assertEquals(1UL, tb.stats().directReceived)
            }
        }
    }

    @Test
    fun `proxy passing needs an unsigned topic, and hands messages to a neighbour that publishes them`(): Unit =
        Nodes().use { nodes ->
            val (a, b) = nodes.node() to nodes.node()
            val e = assertThrows<HyparException.InvalidConfig> { a.join("anon", options = TopicOptions(proxy = true)) }
            assertTrue(e.message!!.contains("plumtree.proxy"), e.message)
            val options = TopicOptions(signed = false, proxy = true, proxyTimeoutMs = 1500u)
            val received = LinkedBlockingQueue<Message>()
            a.join("anon", options = options).use { ta ->
                b.join("anon", a.listenAddrs(), options = options) { received.put(it) }.use { tb ->
                    assertEquals(true to 1500UL, ta.config().proxy to ta.config().proxyTimeoutMs)
                    eventually("a neighbour") { ta.activeView() >= 1 && tb.activeView() >= 1 }
                    val sent = (0 until 30).map { "m$it" }
                    sent.forEach { ta.gossip(it) }
                    val got = sent.map { received.take("message $it") }
                    assertEquals(sent.toSet(), got.map { it.data.decodeToString() }.toSet())
                    // What a handed to b, b published: it arrived there at hop 0.
                    val handed = got.count { it.hops.toInt() == 0 }
                    val (sa, sb) = ta.stats() to tb.stats()
                    assertTrue(sa.handoffsSent in 1UL until 30UL, sa.toString())
                    assertEquals(listOf(sa.handoffsSent, handed.toULong()), listOf(sb.handoffsTaken, sb.handoffsTaken))
                    ta.configure(ta.config().copy(proxy = false))
                    assertEquals(false, ta.config().proxy)
                }
            }
        }
}
