package hypar

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import uniffi.hypar.HyparException
import uniffi.hypar.HyparNetwork
import uniffi.hypar.NetworkConfig
import uniffi.hypar.keypairPeerId

/** Every error kind arrives as a HyparException subclass with a useful message. */
@Timeout(60)
class ErrorsTest {
    private fun assertMentions(e: Exception, vararg words: String) {
        val message = e.message.orEmpty()
        for (w in words) assertTrue(message.contains(w), "message \"$message\" should mention \"$w\"")
    }

    @Test
    fun `a bad listen multiaddr is InvalidArgument`() {
        val e = assertThrows<HyparException.InvalidArgument> {
            HyparNetwork(NetworkConfig(listen = listOf("not-a-multiaddr")))
        }
        assertMentions(e, "not-a-multiaddr")
    }

    @Test
    fun `a bad bootstrap multiaddr is InvalidArgument`(): Unit = loopbackNode().use { net ->
        val e = assertThrows<HyparException.InvalidArgument> { net.join("t", listOf("/ip4/127.0.0.1/tcp/notaport")) }
        assertMentions(e, "notaport")
        // Nothing was joined: the topic can still be joined.
        net.join("t").use { }
    }

    @Test
    fun `an address that cannot be bound is Listen`() {
        // 192.0.2.1 (TEST-NET-1) is not an address of this machine.
        assertThrows<HyparException.Listen> { HyparNetwork(NetworkConfig(listen = listOf("/ip4/192.0.2.1/tcp/0"))) }
    }

    @Test
    fun `an out-of-range option is InvalidConfig`() {
        assertThrows<HyparException.InvalidConfig> {
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), maxMessageSize = 0u))
        }
    }

    @Test
    fun `a bad keypair is InvalidArgument`() {
        assertThrows<HyparException.InvalidArgument> { keypairPeerId(byteArrayOf(1, 2, 3)) }
        assertThrows<HyparException.InvalidArgument> {
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), keypair = ByteArray(7)))
        }
    }

    @Test
    fun `an oversized message is MessageTooLarge, and the topic still works`(): Unit = loopbackNode().use { net ->
        net.join("big").use { topic ->
            val e = assertThrows<HyparException.MessageTooLarge> { topic.gossip(ByteArray(70_000)) }
            assertMentions(e, "65536")
            topic.gossip(ByteArray(1_000))
        }
    }

    @Test
    fun `the max message size option is applied`(): Unit =
        HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK), maxMessageSize = 2048u)).use { net ->
            net.join("small").use { topic ->
                assertThrows<HyparException.MessageTooLarge> { topic.gossip(ByteArray(4096)) }
                topic.gossip(ByteArray(512))
            }
        }

    @Test
    fun `joining the same topic twice is AlreadyJoined`(): Unit = loopbackNode().use { net ->
        net.join("twice").use {
            val e = assertThrows<HyparException.AlreadyJoined> { net.join("twice") { } }
            assertMentions(e, "twice")
        }
        // Once left, it can be joined again.
        net.join("twice").use { }
    }

    @Test
    fun `gossip after shutdown is ShutDown`(): Unit = loopbackNode().use { net ->
        val topic = net.join("gone")
        net.shutdown()
        assertThrows<HyparException.ShutDown> { topic.gossip(byteArrayOf(1)) }
        assertThrows<HyparException.ShutDown> { topic.stats() }
        assertThrows<HyparException.ShutDown> { net.listenAddrs() }
        assertThrows<HyparException.ShutDown> { net.join("later") }
        net.shutdown() // idempotent
        runBlocking { assertNull(topic.nextMessage()) }
        topic.close()
    }

    @Test
    fun `gossip after leave is ShutDown`(): Unit = loopbackNode().use { net ->
        val topic = net.join("left")
        topic.leave()
        val e = assertThrows<HyparException.ShutDown> { topic.gossip(byteArrayOf(1)) }
        assertMentions(e, "left")
        topic.leave() // idempotent
        runBlocking { assertNull(topic.nextMessage()) }
        topic.close()
    }

    @Test
    fun `nextMessage on a topic with a handler is InvalidArgument`(): Unit = loopbackNode().use { net ->
        net.join("handled") { }.use { topic ->
            runBlocking { assertThrows<HyparException.InvalidArgument> { topic.nextMessage() } }
        }
    }

    @Test
    fun `a closed object throws IllegalStateException, not a crash`() {
        val net = loopbackNode()
        net.close()
        net.close() // idempotent
        assertThrows<IllegalStateException> { net.peerId() }
    }
}
