package hypar

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import uniffi.hypar.EventHandler
import uniffi.hypar.HyparTopic
import uniffi.hypar.NetworkEvent
import uniffi.hypar.NetworkEventKind
import uniffi.hypar.generateKeypair
import uniffi.hypar.keypairPeerId
import uniffi.hypar.version
import uniffi.hypar.HyparNetwork
import uniffi.hypar.NetworkConfig
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** Real nodes over loopback exchange messages, each delivered exactly once. */
@Timeout(120)
class ExchangeTest {
    private val perNode = 25

    private fun payload(node: String, i: Int) = "$node-$i"

    @Test
    fun `three nodes exchange messages through handlers, each exactly once`(): Unit = Nodes().use { nodes ->
        val names = listOf("a", "b", "c")
        val nets = names.associateWith { nodes.node() }
        val received = names.associateWith { Collections.synchronizedList(mutableListOf<String>()) }

        // a bootstraps; b and c join through it. a reports its neighbours
        // through an event handler: wait for both instead of sleeping.
        val aNeighbours = CountDownLatch(2)
        nets.getValue("a").setEventHandler(object : EventHandler {
            override fun onEvent(event: NetworkEvent) {
                if (event.topic == "kt" && event.kind == NetworkEventKind.NEIGHBOR_UP) aNeighbours.countDown()
            }
        })
        val bootstrap = nets.getValue("a").listenAddrs()
        val topics = names.associateWith { name ->
            nets.getValue(name).join("kt", if (name == "a") emptyList() else bootstrap) { m ->
                received.getValue(name) += m.data.decodeToString()
            }
        }
        assertTrue(aNeighbours.await(PATIENCE.inWholeSeconds, TimeUnit.SECONDS), "a never saw 2 neighbours")
        awaitNeighbours(topics, mapOf("a" to 2, "b" to 1, "c" to 1))

        for (i in 0 until perNode) for (name in names) topics.getValue(name).gossip(payload(name, i))
        // A last message from each node, once everything else arrived: a
        // duplicate of an earlier message would have had every chance to show.
        val expected = names.associateWith { me ->
            names.filter { it != me }.flatMap { other -> (0 until perNode).map { payload(other, it) } }.toSet()
        }
        for (name in names) {
            eventually("$name to receive ${expected.getValue(name).size} messages") {
                received.getValue(name).toSet().containsAll(expected.getValue(name))
            }
        }
        for (name in names) topics.getValue(name).gossip(payload(name, -1))
        for (name in names) {
            val fences = names.filter { it != name }.map { payload(it, -1) }
            eventually("$name to receive the last messages") { received.getValue(name).containsAll(fences) }
        }

        for (name in names) {
            val got = synchronized(received.getValue(name)) { received.getValue(name).toList() }
            val want = expected.getValue(name) + names.filter { it != name }.map { payload(it, -1) }
            assertEquals(want.size, got.size, "$name got duplicates or strays: ${got.groupingBy { it }.eachCount().filterValues { it > 1 }}")
            assertEquals(want, got.toSet(), "$name got other messages than the others sent")
            val stats = topics.getValue(name).stats()
            assertEquals(want.size.toULong(), stats.delivered, "$name delivered counter")
            assertEquals((perNode + 1).toULong(), stats.published, "$name published counter")
        }
    }

    @Test
    fun `three nodes exchange messages through the Flow API`(): Unit = Nodes().use { nodes ->
        val names = listOf("a", "b", "c")
        val nets = names.associateWith { nodes.node() }
        val bootstrap = nets.getValue("a").listenAddrs()
        val topics: Map<String, HyparTopic> = names.associateWith { name ->
            nets.getValue(name).join("flow", if (name == "a") emptyList() else bootstrap)
        }
        awaitNeighbours(topics, mapOf("a" to 2, "b" to 1, "c" to 1))

        runBlocking(Dispatchers.Default) {
            val expectedCount = 2 * perNode
            // Collect first, then publish: the collectors are already waiting.
            val collected = names.associateWith { name ->
                async { topics.getValue(name).messages().take(expectedCount).toList().map { it.data.decodeToString() } }
            }
            for (i in 0 until perNode) for (name in names) topics.getValue(name).gossip(payload(name, i).encodeToByteArray())
            withTimeout(PATIENCE) { collected.values.awaitAll() }
            for (name in names) {
                val got = collected.getValue(name).await()
                val want = names.filter { it != name }.flatMap { other -> (0 until perNode).map { payload(other, it) } }.toSet()
                assertEquals(want, got.toSet(), "$name got duplicates, strays or missed messages")
                assertEquals(expectedCount.toULong(), topics.getValue(name).stats().delivered, "$name delivered counter")
            }
        }
    }

    @Test
    fun `identity helpers and options`() {
        assertTrue(version().matches(Regex("""\d+\.\d+\.\d+.*""")), version())
        val key = generateKeypair()
        val peer = keypairPeerId(key)
        HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), keypair = key, maxMessageSize = 4096u, messageQueue = 8u)).use { net ->
            assertEquals(peer, net.peerId())
            val addrs = net.listenAddrs()
            assertTrue(addrs.isNotEmpty() && addrs.all { it.startsWith("/ip4/127.0.0.1/tcp/") && it.endsWith("/p2p/$peer") }, addrs.toString())
            net.join("x").use { topic ->
                assertEquals("x", topic.name())
                assertEquals(listOf("x"), net.stats().topics.map { it.name })
            }
        }
    }
}
