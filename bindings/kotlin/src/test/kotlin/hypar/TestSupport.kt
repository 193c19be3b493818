package hypar

import org.junit.jupiter.api.Assertions.fail
import uniffi.hypar.HyparNetwork
import uniffi.hypar.HyparTopic
import uniffi.hypar.NetworkConfig
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** Real nodes over loopback TCP, with system-chosen ports. */
const val LOOPBACK = "/ip4/127.0.0.1/tcp/0"

/** How long the tests wait for something that happens within a second when all is well. */
val PATIENCE: Duration = 30.seconds

fun loopbackNode(): HyparNetwork = HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK)))

/** Nodes shut down together at the end of a test, whatever happened. */
class Nodes : AutoCloseable {
    private val nodes = mutableListOf<HyparNetwork>()

    fun node(): HyparNetwork = loopbackNode().also { nodes += it }

    override fun close() {
        nodes.forEach { it.close() }
    }
}

/** Polls [condition] until it holds; fails the test after [timeout]. */
fun eventually(what: String, timeout: Duration = PATIENCE, condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeout.inWholeNanoseconds
    while (!condition()) {
        if (System.nanoTime() - deadline > 0) fail<Unit>("timed out after $timeout waiting for $what")
        Thread.sleep(10)
    }
}

fun HyparTopic.activeView(): Long = stats().activeView.toLong()

/**
 * Waits until every topic in [topics] has at least [min] neighbours, keyed by
 * topic so a failure says which node is short.
 */
fun awaitNeighbours(topics: Map<String, HyparTopic>, min: Map<String, Int>) {
    for ((name, topic) in topics) {
        val want = min.getValue(name)
        eventually("$name to have $want neighbour(s) (has ${topic.activeView()})") { topic.activeView() >= want }
    }
}

/** The next element within [timeout], or a failure naming [what]. */
fun <T> LinkedBlockingQueue<T>.take(what: String, timeout: Duration = PATIENCE): T =
    poll(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS) ?: fail("timed out after $timeout waiting for $what")
