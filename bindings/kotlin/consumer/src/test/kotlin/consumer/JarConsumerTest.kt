package consumer

import com.sun.jna.Library
import com.sun.jna.NativeLibrary
import hypar.gossip
import hypar.join
import hypar.setEventHandler
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import uniffi.hypar.HyparNetwork
import uniffi.hypar.HyparTopic
import uniffi.hypar.NetworkConfig
import uniffi.hypar.NetworkEventKind
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * What a JVM application sees when its only dependency is the hypar jar: the
 * native library comes out of the jar, and two nodes talk over loopback.
 */
@Timeout(120)
class JarConsumerTest {
    private val topicName = "consumer"

    /** Generous: all of this takes well under a second when things work. */
    private val patienceSeconds = 30L

    @Test
    fun `the jar alone is enough for two nodes to exchange a message each way`() {
        // Nothing points JNA at a directory: the library must come from the jar.
        assertNull(System.getProperty("jna.library.path"), "jna.library.path is set")
        assertNull(System.getProperty("uniffi.component.hypar.libraryOverride"), "the uniffi library override is set")
        val loader = HyparNetwork::class.java.classLoader
        val resource = loader.getResource("linux-x86-64/libhypar.so")
        assertNotNull(resource, "linux-x86-64/libhypar.so is not on the classpath")
        assertEquals("jar", resource!!.protocol, "libhypar.so should come from a jar, not from $resource")
        assertTrue(resource.path.contains("/io/github/hypar/hypar/"), "libhypar.so comes from another jar: $resource")

        HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK))).use { a ->
            HyparNetwork(NetworkConfig(listen = listOf(LOOPBACK))).use { b ->
                assertLoadedFromJar(loader)

                // a bootstraps the topic, b joins through it; a says when b is its neighbour.
                val aNeighbour = CountDownLatch(1)
                a.setEventHandler { event ->
                    if (event.topic == topicName && event.kind == NetworkEventKind.NEIGHBOR_UP) aNeighbour.countDown()
                }
                val atA = LinkedBlockingQueue<String>()
                val atB = LinkedBlockingQueue<String>()
                a.join(topicName, emptyList()) { m -> atA.put(m.data.decodeToString()) }.use { ta ->
                    b.join(topicName, a.listenAddrs()) { m -> atB.put(m.data.decodeToString()) }.use { tb ->
                        assertTrue(aNeighbour.await(patienceSeconds, TimeUnit.SECONDS), "b never became a's neighbour")
                        awaitNeighbour("b", tb)

                        ta.gossip("hello from a")
                        tb.gossip("hello from b")
                        assertEquals("hello from a", atB.next("a's message at b"))
                        assertEquals("hello from b", atA.next("b's message at a"))

                        // Exactly once: a second message each way comes after any
                        // duplicate of the first would have; then nothing else is queued.
                        ta.gossip("last from a")
                        tb.gossip("last from b")
                        assertEquals("last from a", atB.next("a's last message at b"))
                        assertEquals("last from b", atA.next("b's last message at a"))
                        assertTrue(atA.isEmpty() && atB.isEmpty(), "duplicates or strays: a got $atA, b got $atB")
                        for ((name, topic) in listOf("a" to ta, "b" to tb)) {
                            val stats = topic.stats()
                            assertEquals(2uL, stats.delivered, "$name delivered counter")
                            assertEquals(2uL, stats.published, "$name published counter")
                        }
                    }
                }
            }
        }
    }

    /**
     * JNA tries directories (jna.library.path, then the system's) before the
     * classpath; a libhypar.so installed on the system would win over the jar.
     * Make sure this run used the copy JNA extracted from the jar: JNA names
     * such copies jna*.tmp (and deletes them once loaded).
     */
    private fun assertLoadedFromJar(loader: ClassLoader) {
        // The same name and options as uniffi's Native.register(), so this is
        // JNA's cached instance, not a second load.
        val library = NativeLibrary.getInstance("hypar", mapOf(Library.OPTION_CLASSLOADER to loader))
        val file: File? = library.file
        assertNotNull(file, "JNA does not say where it loaded libhypar from")
        assertTrue(
            file!!.name.startsWith("jna") && file.name != "libhypar.so",
            "libhypar was loaded from $file, not extracted from the jar (is a libhypar.so installed on this system?)",
        )
        println("libhypar loaded from $file, extracted from the jar")
    }

    private fun awaitNeighbour(name: String, topic: HyparTopic) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(patienceSeconds)
        while (topic.stats().activeView < 1u) {
            if (System.nanoTime() - deadline > 0) fail<Unit>("$name never got a neighbour")
            Thread.sleep(10)
        }
    }

    private fun LinkedBlockingQueue<String>.next(what: String): String =
        poll(patienceSeconds, TimeUnit.SECONDS) ?: fail("timed out after ${patienceSeconds}s waiting for $what")

    private companion object {
        const val LOOPBACK = "/ip4/127.0.0.1/tcp/0"
    }
}
