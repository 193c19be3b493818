/* Every argument abused: NULLs, bad UTF-8, bad multiaddrs, bad keys, small
 * buffers, oversized payloads, bad config values, use after shutdown,
 * and callbacks that re-enter the library or free their own topic.
 * Nothing may crash. (Use after fork is checked by fork.c.) */
#include "util.h"

static void noop_message(void *userdata, const uint8_t *data, size_t len) {
  (void)userdata, (void)data, (void)len;
}

static void results_and_errors(void) {
  CHECK(strcmp(hypar_result_name(HYPAR_OK), "HYPAR_OK") == 0);
  CHECK(strcmp(hypar_result_name(HYPAR_ERR_FORKED), "HYPAR_ERR_FORKED") == 0);
  CHECK(strcmp(hypar_result_name(-7), "HYPAR_UNKNOWN") == 0);
  CHECK(strcmp(hypar_result_name(9999), "HYPAR_UNKNOWN") == 0);
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", HYPAR_VERSION_MAJOR, HYPAR_VERSION_MINOR, HYPAR_VERSION_PATCH);
  CHECK(strcmp(hypar_version(), version) == 0);

  /* last error: length query, truncation, NUL termination */
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_generate(NULL));
  size_t full = hypar_last_error(NULL, 0);
  CHECK(full > 0);
  char small[8];
  memset(small, 'x', sizeof small);
  CHECK(hypar_last_error(small, sizeof small) == full);
  CHECK(small[7] == '\0' && strlen(small) == 7);
  char detail[256];
  hypar_last_error(detail, sizeof detail);
  CHECK(strstr(detail, "out") != NULL); /* names the NULL argument */
}

static void keypairs(void) {
  hypar_keypair *k = NULL;
  OK(hypar_keypair_generate(&k));
  uint8_t bytes[128];
  size_t n = 0, need = 0;
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_keypair_to_bytes(k, NULL, 0, &need));
  CHECK(need == 68);
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_keypair_to_bytes(k, bytes, 10, &need));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_to_bytes(k, bytes, sizeof bytes, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_to_bytes(NULL, bytes, sizeof bytes, &n));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_to_bytes(k, NULL, sizeof bytes, &n));
  OK(hypar_keypair_to_bytes(k, bytes, sizeof bytes, &n));
  CHECK(n == 68);

  hypar_keypair *k2 = NULL;
  OK(hypar_keypair_from_bytes(bytes, n, &k2));
  char id1[64], id2[64];
  size_t w = 0;
  OK(hypar_keypair_peer_id(k, id1, sizeof id1, &w));
  CHECK(w == strlen(id1) + 1);
  OK(hypar_keypair_peer_id(k2, id2, sizeof id2, &w));
  CHECK(strcmp(id1, id2) == 0);
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_keypair_peer_id(k, id2, 5, &w));
  CHECK(w == strlen(id1) + 1);

  hypar_keypair *bad = (hypar_keypair *)0x1;
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_keypair_from_bytes((const uint8_t *)"nope", 4, &bad));
  CHECK(bad == (hypar_keypair *)0x1); /* out-params untouched on failure */
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_keypair_from_bytes(bytes, n - 1, &bad));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_keypair_from_bytes(NULL, 0, &bad));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_from_bytes(NULL, 5, &bad));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_keypair_from_bytes(bytes, n, NULL));
  hypar_keypair_free(k);
  hypar_keypair_free(k2);
  hypar_keypair_free(NULL);
}

static void configs(void) {
  hypar_network_config *cfg = hypar_network_config_new();
  CHECK(cfg != NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_add_listen_addr(NULL, "/ip4/127.0.0.1/tcp/0"));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_add_listen_addr(cfg, NULL));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_add_listen_addr(cfg, "not a multiaddr"));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_add_listen_addr(cfg, "/ip4/999.0.0.1/tcp/0"));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_add_listen_addr(cfg, "/ip4/\xff\xfe/tcp/0"));
  char detail[256];
  hypar_last_error(detail, sizeof detail);
  CHECK(strstr(detail, "UTF-8") != NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_keypair(cfg, NULL, 3));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_set_keypair(cfg, (const uint8_t *)"abc", 3));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_max_message_size(NULL, 1000));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_callback_queue(NULL, 10));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_event_callback(NULL, NULL, NULL));

  /* out-of-range values fail when the network is created */
  hypar_network *net = (hypar_network *)0x1;
  OK(hypar_network_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
  OK(hypar_network_config_set_max_message_size(cfg, 10));
  EXPECT(HYPAR_ERR_INVALID_CONFIG, hypar_network_new(cfg, &net));
  hypar_last_error(detail, sizeof detail);
  CHECK(strstr(detail, "max_message_size") != NULL);
  OK(hypar_network_config_set_max_message_size(cfg, 65536));
  OK(hypar_network_config_set_callback_queue(cfg, 0));
  EXPECT(HYPAR_ERR_INVALID_CONFIG, hypar_network_new(cfg, &net));
  CHECK(net == (hypar_network *)0x1);
  OK(hypar_network_config_set_callback_queue(cfg, 16));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_new(cfg, NULL));
  hypar_network_config_free(cfg);
  hypar_network_config_free(NULL);

  /* an address that cannot be bound */
  cfg = hypar_network_config_new();
  OK(hypar_network_config_add_listen_addr(cfg, "/ip4/192.0.2.1/tcp/0"));
  EXPECT(HYPAR_ERR_LISTEN, hypar_network_new(cfg, &net));
  hypar_network_config_free(cfg);
}

/* Callback state for the re-entrancy checks. */
typedef struct {
  hypar_topic *self;      /* freed by its own callback on "free yourself" */
  hypar_topic *reply_on;  /* gossiped to from inside the callback */
  const hypar_network *net;
  atomic_long calls;
  atomic_long joined_from_callback;
} reentry;

static void reentrant_message(void *userdata, const uint8_t *data, size_t len) {
  reentry *r = userdata;
  atomic_fetch_add(&r->calls, 1);
  if (len == 4 && memcmp(data, "join", 4) == 0) {
    hypar_topic *extra = NULL;
    OK(hypar_network_join(r->net, "joined-from-callback", NULL, 0, noop_message, NULL, &extra));
    EXPECT(HYPAR_ERR_ALREADY_JOINED, hypar_network_join(r->net, "abuse", NULL, 0, noop_message, NULL, &extra));
    hypar_topic_free(extra);
    atomic_fetch_add(&r->joined_from_callback, 1);
  }
  if (len == 4 && memcmp(data, "echo", 4) == 0) OK(hypar_topic_gossip(r->reply_on, (const uint8_t *)"back", 4));
  if (len == 4 && memcmp(data, "free", 4) == 0) {
    hypar_topic_free(r->self); /* returns at once; no further calls */
    r->self = NULL;
  }
}

static void counting_message(void *userdata, const uint8_t *data, size_t len) {
  (void)data, (void)len;
  atomic_fetch_add((atomic_long *)userdata, 1);
}

static void networks_and_topics(void) {
  hypar_network *a = loopback_network(NULL, NULL);
  hypar_network *b = loopback_network(NULL, NULL);
  char buf[512];
  size_t w = 0;
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_peer_id(NULL, buf, sizeof buf, &w));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_peer_id(a, buf, sizeof buf, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_peer_id(a, NULL, 10, &w));
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_network_peer_id(a, buf, 3, &w));
  CHECK(w > 40 && w < 64);
  OK(hypar_network_peer_id(a, buf, sizeof buf, &w));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_listen_addrs(NULL, buf, sizeof buf, &w));
  OK(hypar_network_listen_addrs(a, buf, sizeof buf, &w));
  CHECK(strncmp(buf, "/ip4/127.0.0.1/tcp/", 19) == 0 && strstr(buf, "/p2p/12D3KooW") != NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_get_stats(a, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_get_stats(NULL, (hypar_network_stats *)buf));

  hypar_topic *t = (hypar_topic *)0x1;
  const char *bad_addr[] = {"/ip4/127.0.0.1/tcp/notaport"};
  const char *null_addr[] = {NULL};
  const char *bad_utf8[] = {"/dns4/\xc3\x28/tcp/1"};
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(NULL, "x", NULL, 0, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(a, NULL, NULL, 0, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(a, "x", NULL, 0, NULL, NULL, &t));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(a, "x", NULL, 0, noop_message, NULL, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(a, "x", NULL, 2, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join(a, "x", null_addr, 1, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_join(a, "x", bad_addr, 1, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_join(a, "x", bad_utf8, 1, noop_message, NULL, &t));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_join(a, "\xff", NULL, 0, noop_message, NULL, &t));
  CHECK(t == (hypar_topic *)0x1);

  /* re-entrant callbacks: join from a callback, gossip from a callback, free own topic */
  static reentry r;
  atomic_long echoes = 0;
  r.net = b;
  hypar_topic *ta = NULL, *tb = NULL;
  OK(hypar_network_join(a, "abuse", NULL, 0, counting_message, &echoes, &ta));
  char *addr = first_addr(a);
  const char *boot[] = {addr};
  OK(hypar_network_join(b, "abuse", boot, 1, reentrant_message, &r, &tb));
  free(addr);
  EXPECT(HYPAR_ERR_ALREADY_JOINED, hypar_network_join(a, "abuse", NULL, 0, noop_message, NULL, &t));
  r.self = tb;
  r.reply_on = tb;
  hypar_topic_stats st;
  for (int i = 0; i < 2000; i++) {
    OK(hypar_topic_get_stats(ta, &st));
    if (st.active_view > 0) break;
    sleep_ms(10);
  }
  CHECK(st.active_view == 1);

  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_gossip(NULL, (const uint8_t *)"x", 1));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_gossip(ta, NULL, 1));
  OK(hypar_topic_gossip(ta, NULL, 0)); /* an empty message is a message */
  static uint8_t big[70000];
  EXPECT(HYPAR_ERR_MESSAGE_TOO_LARGE, hypar_topic_gossip(ta, big, sizeof big));
  hypar_last_error(buf, sizeof buf);
  CHECK(strstr(buf, "65536") != NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_get_stats(NULL, &st));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_get_stats(ta, NULL));

  OK(hypar_topic_gossip(ta, (const uint8_t *)"join", 4));
  OK(hypar_topic_gossip(ta, (const uint8_t *)"echo", 4));
  CHECK(wait_at_least(&echoes, 1, 20000));
  CHECK(wait_at_least(&r.joined_from_callback, 1, 20000));
  long before = atomic_load(&r.calls);
  CHECK(before == 3); /* the empty message, join, echo */
  OK(hypar_topic_gossip(ta, (const uint8_t *)"free", 4));
  CHECK(wait_at_least(&r.calls, before + 1, 20000));
  for (int i = 0; i < 5; i++) OK(hypar_topic_gossip(ta, (const uint8_t *)"more", 4));
  sleep_ms(500);
  CHECK(atomic_load(&r.calls) == before + 1); /* nothing after it freed itself */
  CHECK(r.self == NULL);

  /* shutdown makes handles inert; free still works afterwards */
  OK(hypar_network_shutdown(a));
  OK(hypar_network_shutdown(a));
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_topic_gossip(ta, (const uint8_t *)"late", 4));
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_topic_get_stats(ta, &st));
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_network_get_stats(a, (hypar_network_stats *)buf));
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_network_listen_addrs(a, buf, sizeof buf, &w));
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_network_join(a, "after", NULL, 0, noop_message, NULL, &t));
  OK(hypar_network_peer_id(a, buf, sizeof buf, &w));

  /* freeing the network first leaves topics inert but freeable */
  hypar_topic *tb2 = NULL;
  OK(hypar_network_join(b, "orphan", NULL, 0, noop_message, NULL, &tb2));
  hypar_network_free(b);
  EXPECT(HYPAR_ERR_SHUT_DOWN, hypar_topic_gossip(tb2, (const uint8_t *)"x", 1));
  hypar_topic_free(tb2);
  hypar_topic_free(ta);
  hypar_network_free(a);
  hypar_network_free(NULL);
  hypar_topic_free(NULL);
}

int main(void) {
  results_and_errors();
  keypairs();
  configs();
  networks_and_topics();
  hypar_network *defaults = NULL;
  OK(hypar_network_new(NULL, &defaults)); /* NULL config means defaults */
  hypar_network_free(defaults);
  printf("abuse: every bad argument returned its error\n");
  return 0;
}
