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
import uniffi.hypar.NetworkEvent
import uniffi.hypar.NetworkEventKind
import uniffi.hypar.Reachability
import java.util.concurrent.LinkedBlockingQueue

/**
 * Relays from Kotlin, between real nodes on loopback. Loopback is not a public address, so
 * AutoNAT never finds these nodes public and each keeps a reservation on the relay it is
 * connected to (tests/hosts proves the same across real NAT routers, with hole punching).
 */
@Timeout(120)
class RelayTest {
    @Test
    fun `a node reached only through its relay address joins and delivers`() {
        HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), relayServer = true)).use { relay ->
            relay.join("circuit").use {
                Nodes().use { nodes ->
                    val a = nodes.node()
                    val events = LinkedBlockingQueue<NetworkEvent>()
                    a.setEventHandler { events.put(it) }
                    a.join("circuit", relay.listenAddrs()).use { ta ->
                        while (true) {
                            val e = events.take("a RelayReserved event")
                            if (e.kind == NetworkEventKind.RELAY_RESERVED) {
                                assertEquals(relay.peerId(), e.peerId)
                                assertEquals("", e.topic)
                                break
                            }
                        }
                        val stats = a.stats()
                        assertEquals(relay.peerId(), stats.relay)
                        assertEquals(Reachability.UNKNOWN, stats.reachability)
                        val circuit = a.listenAddrs().filter { it.contains("/p2p-circuit/") }
                        assertEquals(1, circuit.size, a.listenAddrs().toString())

                        val received = LinkedBlockingQueue<Message>()
                        nodes.node().join("circuit", circuit) { received.put(it) }.use { tc ->
                            eventually("a neighbour through the circuit") { tc.activeView() >= 1 }
                            ta.gossip("through the relay")
                            assertEquals("through the relay", received.take("the message").data.decodeToString())
                        }
                    }
                }
            }
        }
    }

    @Test
    fun `a declared external address makes a node public, and bad ones are refused`() {
        val config = NetworkConfig(
            listen = listOf(LOOPBACK),
            externalAddrs = listOf("/ip4/192.0.2.7/tcp/4001"),
            dnsServers = listOf("192.0.2.53"),
        )
        HyparNetwork(config).use { assertEquals(Reachability.PUBLIC, it.stats().reachability) }
        assertThrows<HyparException.InvalidArgument> {
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), externalAddrs = listOf("nope")))
        }
        assertThrows<HyparException.InvalidArgument> {
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), dnsServers = listOf("dns.example")))
        }
        val many = (0 until 9).map { "/ip4/192.0.2.$it/tcp/4001" }
        val e = assertThrows<HyparException.InvalidConfig> {
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), externalAddrs = many))
        }
        assertTrue(e.message!!.contains("external_addrs"), e.message)
    }
}
