/* Two networks in one process exchange 1,000 messages each way; every
 * message must arrive exactly once. Usage: exchange [messages] */
#include "util.h"

#define MAX_MESSAGES 100000

typedef struct {
  atomic_long received;
  atomic_long duplicates;
  atomic_long malformed;
  atomic_uchar seen[MAX_MESSAGES];
} inbox;

static void on_message(void *userdata, const uint8_t *data, size_t len) {
  inbox *in = userdata;
  unsigned long n = 0;
  if (len != 4) {
    atomic_fetch_add(&in->malformed, 1);
    return;
  }
  n = (unsigned long)data[0] << 24 | (unsigned long)data[1] << 16 | (unsigned long)data[2] << 8 | data[3];
  if (n >= MAX_MESSAGES) {
    atomic_fetch_add(&in->malformed, 1);
  } else if (atomic_exchange(&in->seen[n], 1)) {
    atomic_fetch_add(&in->duplicates, 1);
  } else {
    atomic_fetch_add(&in->received, 1);
  }
}

static atomic_long neighbors_up;
static atomic_long neighbors_down;

static void on_event(void *userdata, hypar_event_kind kind, const char *topic, const char *peer) {
  (void)userdata;
  CHECK(topic != NULL && strcmp(topic, "exchange") == 0);
  if (kind == HYPAR_EVENT_NEIGHBOR_UP) {
    CHECK(peer != NULL && strncmp(peer, "12D3KooW", 8) == 0);
    atomic_fetch_add(&neighbors_up, 1);
  } else if (kind == HYPAR_EVENT_NEIGHBOR_DOWN) {
    atomic_fetch_add(&neighbors_down, 1);
  }
}

static void send_all(const hypar_topic *t, long count) {
  for (long i = 0; i < count; i++) {
    uint8_t m[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    OK(hypar_topic_gossip(t, m, sizeof m));
  }
}

int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 1000;
  CHECK(count > 0 && count <= MAX_MESSAGES);
  static inbox at_a, at_b;

  hypar_network *a = loopback_network(on_event, NULL);
  hypar_network *b = loopback_network(NULL, NULL);
  hypar_topic *ta = NULL, *tb = NULL;
  OK(hypar_network_join(a, "exchange", NULL, 0, on_message, &at_a, &ta));
  char *addr = first_addr(a);
  const char *bootstrap[] = {addr};
  OK(hypar_network_join(b, "exchange", bootstrap, 1, on_message, &at_b, &tb));
  free(addr);
  CHECK(wait_at_least(&neighbors_up, 1, 20000));
  /* b must count a as its neighbour too before it publishes: a node with no
   * neighbour yet keeps only its last messages to announce later. */
  hypar_topic_stats st;
  for (int waited = 0; waited < 20000; waited += 10) {
    OK(hypar_topic_get_stats(tb, &st));
    if (st.active_view > 0) break;
    sleep_ms(10);
  }
  CHECK(st.active_view == 1);

  send_all(ta, count);
  send_all(tb, count);
  int got_b = wait_at_least(&at_b.received, count, 30000);
  int got_a = wait_at_least(&at_a.received, count, 30000);
  if (!got_a || !got_b) {
    hypar_network_stats na, nb;
    hypar_topic_stats sa, sb;
    OK(hypar_network_get_stats(a, &na));
    OK(hypar_network_get_stats(b, &nb));
    OK(hypar_topic_get_stats(ta, &sa));
    OK(hypar_topic_get_stats(tb, &sb));
    fprintf(stderr, "a saw %ld neighbour-up and %ld neighbour-down events\n", atomic_load(&neighbors_up),
            atomic_load(&neighbors_down));
    const hypar_topic_stats *st[2] = {&sa, &sb};
    const hypar_network_stats *nt[2] = {&na, &nb};
    for (int k = 0; k < 2; k++)
      fprintf(stderr,
              "%c: delivered %llu published %llu relayed %llu grafts %llu tree %zu active %zu duplicates %llu "
              "dropped %llu frames dropped %llu\n",
              "ab"[k], (unsigned long long)st[k]->delivered, (unsigned long long)st[k]->published,
              (unsigned long long)st[k]->relayed, (unsigned long long)st[k]->grafts, st[k]->tree_links,
              st[k]->active_view, (unsigned long long)st[k]->duplicates, (unsigned long long)st[k]->dropped,
              (unsigned long long)nt[k]->frames_dropped);
  }
  CHECK(got_a && got_b);
  sleep_ms(500); /* anything extra would arrive now */
  CHECK(atomic_load(&at_a.received) == count && atomic_load(&at_b.received) == count);
  CHECK(atomic_load(&at_a.duplicates) == 0 && atomic_load(&at_b.duplicates) == 0);
  CHECK(atomic_load(&at_a.malformed) == 0 && atomic_load(&at_b.malformed) == 0);

  OK(hypar_topic_get_stats(tb, &st));
  CHECK(st.delivered == (uint64_t)count && st.published == (uint64_t)count && st.active_view == 1);
  hypar_network_stats ns;
  OK(hypar_network_get_stats(a, &ns));
  CHECK(ns.topics == 1 && ns.connected_peers == 1);

  hypar_topic_free(ta);
  hypar_topic_free(tb);
  hypar_network_free(a);
  hypar_network_free(b);
  printf("exchange: %ld messages each way, each delivered exactly once\n", count);
  return 0;
}
