/* A bidirectional bridge between two topics: every message received on one
 * is gossiped on the other. Runs until stdin closes (Ctrl-D).
 *
 *   bridge TOPIC_A TOPIC_B [BOOTSTRAP_MULTIADDR]...
 *
 * A node does not receive its own messages, so a single bridge never loops;
 * two bridges between the same pair of topics would. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "hypar.h"

typedef struct {
  const char *name;
  _Atomic(hypar_topic *) to; /* where this side's messages go */
  atomic_long forwarded;
} side;

static void forward(void *userdata, const uint8_t *data, size_t len) {
  side *s = userdata;
  hypar_topic *to = atomic_load(&s->to);
  if (to && hypar_topic_gossip(to, data, len) == HYPAR_OK) atomic_fetch_add(&s->forwarded, 1);
}

static int fail(const char *what, hypar_result r) {
  char detail[512];
  hypar_last_error(detail, sizeof detail);
  fprintf(stderr, "bridge: %s: %s: %s\n", what, hypar_result_name(r), detail);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s TOPIC_A TOPIC_B [BOOTSTRAP_MULTIADDR]...\n", argv[0]);
    return 2;
  }
  hypar_network *net = NULL;
  hypar_result r = hypar_network_new(NULL, &net);
  if (r != HYPAR_OK) return fail("starting the network", r);
  char addrs[4096];
  size_t written = 0;
  if (hypar_network_listen_addrs(net, addrs, sizeof addrs, &written) == HYPAR_OK)
    fprintf(stderr, "listening on:\n%s\n", addrs);

  static side a = {.name = NULL}, b = {.name = NULL};
  a.name = argv[1];
  b.name = argv[2];
  const char *const *boot = (const char *const *)&argv[3];
  size_t boot_len = (size_t)(argc - 3);
  hypar_topic *ta = NULL, *tb = NULL;
  if ((r = hypar_network_join(net, a.name, boot, boot_len, forward, &a, &ta)) != HYPAR_OK) return fail(a.name, r);
  if ((r = hypar_network_join(net, b.name, boot, boot_len, forward, &b, &tb)) != HYPAR_OK) return fail(b.name, r);
  atomic_store(&a.to, tb);
  atomic_store(&b.to, ta);
  fprintf(stderr, "bridging %s <-> %s; Ctrl-D stops\n", a.name, b.name);

  char line[256];
  while (fgets(line, sizeof line, stdin)) {
  }
  hypar_topic_free(ta); /* once it returns, `forward` no longer runs for a */
  hypar_topic_free(tb);
  hypar_network_free(net);
  fprintf(stderr, "forwarded %ld from %s, %ld from %s\n", atomic_load(&a.forwarded), a.name,
          atomic_load(&b.forwarded), b.name);
  return 0;
}
