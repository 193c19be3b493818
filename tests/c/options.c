/* Every topic option from C, at join and while the topic runs: the values
 * read back, whom a node hears and tells, proxy passing, and clear errors
 * for bad values, malformed peer ids and options fixed while joined. */
#include "util.h"

typedef struct {
  atomic_long received;
  char last[64];
  bool direct;
  char origin[128];
} inbox;

static void on_message(void *userdata, const hypar_message *m) {
  inbox *in = userdata;
  /* The payload is not NUL-terminated: copy it. */
  size_t n = m->len < sizeof in->last - 1 ? m->len : sizeof in->last - 1;
  memcpy(in->last, m->data, n);
  in->last[n] = '\0';
  in->direct = m->direct;
  in->origin[0] = '\0';
  if (m->origin != NULL && strlen(m->origin) < sizeof in->origin) strcpy(in->origin, m->origin);
  atomic_fetch_add(&in->received, 1);
}

/* `call` fails with `want`, and the last error mentions `text`. */
static void expect_error(hypar_result want, hypar_result got, const char *text) {
  char detail[512];
  hypar_last_error(detail, sizeof detail);
  if (got != want || strstr(detail, text) == NULL) {
    fprintf(stderr, "expected %s mentioning \"%s\", got %s: %s\n", hypar_result_name(want), text,
            hypar_result_name(got), detail);
    exit(1);
  }
}

static void wait_stats(const hypar_topic *t, int (*done)(const hypar_topic_stats *)) {
  hypar_topic_stats st = {0};
  for (int waited = 0; waited < 20000; waited += 10) {
    OK(hypar_topic_get_stats(t, &st));
    if (done(&st)) return;
    sleep_ms(10);
  }
  fprintf(stderr, "topic counters never got there\n");
  exit(1);
}

static void say(const hypar_topic *t, const char *text) {
  OK(hypar_topic_gossip(t, (const uint8_t *)text, strlen(text)));
}

static int has_neighbour(const hypar_topic_stats *s) { return s->active_view >= 1; }
static int dropped_one(const hypar_topic_stats *s) { return s->dropped >= 1; }

int main(void) {
  /* Bad arguments. */
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_max_hops(NULL, 3));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_allow(NULL, NULL, 0));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_active_view(NULL, 3));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_message_cache(NULL, 3, 3));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_configure(NULL, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_get_settings(NULL, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_gossip_within(NULL, NULL, 0, 1));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_send(NULL, "x", NULL, 0));

  hypar_network *a = loopback_network(NULL, NULL);
  hypar_network *b = loopback_network(NULL, NULL);
  static inbox at_a, at_b;
  hypar_topic *ta = NULL, *tb = NULL, *none = NULL;

  /* Values out of range and malformed peer ids are refused at join. */
  hypar_topic_options *bad = hypar_topic_options_new();
  OK(hypar_topic_options_set_max_hops(bad, 0));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(a, "opts", NULL, 0, bad, on_message, &at_a, &none),
               "plumtree.max_hops");
  OK(hypar_topic_options_set_max_hops(bad, 8));
  OK(hypar_topic_options_set_origin_trees(bad, 70000));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(a, "opts", NULL, 0, bad, on_message, &at_a, &none),
               "plumtree.origin_trees");
  OK(hypar_topic_options_set_origin_trees(bad, 16));
  OK(hypar_topic_options_set_duplicates_before_prune(bad, 0));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(a, "opts", NULL, 0, bad, on_message, &at_a, &none),
               "plumtree.duplicates_before_prune");
  OK(hypar_topic_options_set_duplicates_before_prune(bad, 256));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(a, "opts", NULL, 0, bad, on_message, &at_a, &none),
               "duplicates_before_prune");
  OK(hypar_topic_options_set_duplicates_before_prune(bad, 5));
  const char *garbage[] = {"not-a-peer-id"};
  OK(hypar_topic_options_set_hear(bad, garbage, 1));
  expect_error(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_join_with(a, "opts", NULL, 0, bad, on_message, &at_a, &none),
               "hear");
  CHECK(none == NULL);
  hypar_topic_options_free(bad);

  /* Join with options, and read them back. */
  hypar_topic_options *opts = hypar_topic_options_new();
  OK(hypar_topic_options_set_max_hops(opts, 8));
  OK(hypar_topic_options_set_active_view(opts, 4));
  OK(hypar_topic_options_set_passive_view(opts, 20));
  OK(hypar_topic_options_set_shuffle_interval_ms(opts, 5000));
  OK(hypar_topic_options_set_graft_timeout_ms(opts, 200));
  OK(hypar_topic_options_set_ihave_interval_ms(opts, 50));
  OK(hypar_topic_options_set_message_cache(opts, 1000, 1 << 20));
  OK(hypar_topic_options_set_origin_trees(opts, 16));
  OK(hypar_topic_options_set_duplicates_before_prune(opts, 3));
  OK(hypar_network_join_with(a, "opts", NULL, 0, opts, on_message, &at_a, &ta));
  char *addr = first_addr(a);
  const char *bootstrap[] = {addr};
  OK(hypar_network_join_with(b, "opts", bootstrap, 1, opts, on_message, &at_b, &tb));
  free(addr);
  hypar_topic_settings s;
  OK(hypar_topic_get_settings(ta, &s));
  CHECK(s.is_signed && s.max_hops == 8 && s.active_view == 4 && s.passive_view == 20);
  CHECK(s.shuffle_interval_ms == 5000 && s.graft_timeout_ms == 200 && s.ihave_interval_ms == 50);
  CHECK(s.message_cache == 1000 && s.message_cache_bytes == (1 << 20) && s.known_peers == 256);
  CHECK(s.allow_count == SIZE_MAX && s.hear_count == SIZE_MAX && s.tell_count == SIZE_MAX);
  CHECK(s.origin_trees == 16 && s.duplicates_before_prune == 3);
  wait_stats(ta, has_neighbour);
  wait_stats(tb, has_neighbour);

  /* b stops hearing anyone (a list of none): a's message is dropped there. */
  hypar_topic_options *deaf = hypar_topic_options_new();
  const char *nobody[] = {NULL};
  OK(hypar_topic_options_set_hear(deaf, nobody, 0));
  OK(hypar_topic_configure(tb, deaf));
  OK(hypar_topic_get_settings(tb, &s));
  CHECK(s.hear_count == 0 && s.max_hops == 8); /* what was not set is kept */
  hypar_topic_options *hops_only = hypar_topic_options_new();
  OK(hypar_topic_options_set_max_hops(hops_only, 6));
  OK(hypar_topic_options_set_origin_trees(hops_only, 0));
  OK(hypar_topic_options_set_duplicates_before_prune(hops_only, 2));
  OK(hypar_topic_configure(tb, hops_only));
  OK(hypar_topic_get_settings(tb, &s));
  CHECK(s.hear_count == 0 && s.max_hops == 6 && s.is_signed && s.origin_trees == 0);
  CHECK(s.duplicates_before_prune == 2);
  hypar_topic_options_free(hops_only);
  say(ta, "not heard");
  wait_stats(tb, dropped_one);
  /* b still tells a. */
  say(tb, "told");
  CHECK(wait_at_least(&at_a.received, 1, 20000) && strcmp(at_a.last, "told") == 0);
  /* b hears anyone again: the next message is the first b delivers. */
  OK(hypar_topic_options_set_hear(deaf, NULL, 0));
  OK(hypar_topic_configure(tb, deaf));
  say(ta, "heard");
  CHECK(wait_at_least(&at_b.received, 1, 20000) && strcmp(at_b.last, "heard") == 0);
  CHECK(atomic_load(&at_b.received) == 1);
  hypar_topic_options_free(deaf);
  /* a keeps a record of each sender (itself and b); b, configured with no
     origin trees, none. */
  hypar_topic_stats st;
  OK(hypar_topic_get_stats(ta, &st));
  CHECK(st.origin_trees == 2);
  OK(hypar_topic_get_stats(tb, &st));
  CHECK(st.origin_trees == 0);

  /* A message for neighbours only, and a direct message: b gets both, the
   * direct one marked as such and naming a. */
  OK(hypar_topic_gossip_within(ta, (const uint8_t *)"near", 4, 1));
  CHECK(wait_at_least(&at_b.received, 2, 20000) && strcmp(at_b.last, "near") == 0 && !at_b.direct);
  char a_id[128], b_id[128];
  size_t written = 0;
  OK(hypar_network_peer_id(a, a_id, sizeof a_id, &written));
  OK(hypar_network_peer_id(b, b_id, sizeof b_id, &written));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_send(ta, NULL, (const uint8_t *)"x", 1));
  expect_error(HYPAR_ERR_INVALID_ARGUMENT, hypar_topic_send(ta, "not a peer", (const uint8_t *)"x", 1), "peer id");
  expect_error(HYPAR_ERR_INVALID_ARGUMENT, hypar_topic_send(ta, a_id, (const uint8_t *)"x", 1), "not a neighbour");
  OK(hypar_topic_send(ta, b_id, (const uint8_t *)"psst", 4));
  CHECK(wait_at_least(&at_b.received, 3, 20000) && strcmp(at_b.last, "psst") == 0 && at_b.direct);
  CHECK(strcmp(at_b.origin, a_id) == 0);
  hypar_topic_stats ts;
  OK(hypar_topic_get_stats(ta, &ts));
  CHECK(ts.direct_sent == 1);

  /* Fixed while joined, or not an option of configure: refused, by name. */
  hypar_topic_options *change = hypar_topic_options_new();
  OK(hypar_topic_options_set_signed(change, false));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_topic_configure(ta, change), "signed");
  OK(hypar_topic_options_set_signed(change, true));
  OK(hypar_topic_options_set_active_view(change, 0));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_topic_configure(ta, change), "active_view_capacity");
  OK(hypar_topic_options_set_active_view(change, 3));
  OK(hypar_topic_options_set_validator(change, NULL, NULL));
  OK(hypar_topic_configure(ta, change));
  OK(hypar_topic_get_settings(ta, &s));
  CHECK(s.active_view == 3 && s.max_hops == 8);
  hypar_topic_options_free(change);
  hypar_topic_options_free(opts);

  /* Proxy passing: refused in a signed topic, by name; in an unsigned one a
   * hands about half its messages to b, which publishes them, and b gets
   * every message once. */
  hypar_topic_options *proxy = hypar_topic_options_new();
  OK(hypar_topic_options_set_proxy(proxy, true, 1500));
  expect_error(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(a, "proxy", NULL, 0, proxy, on_message, &at_a, &none),
               "plumtree.proxy");
  OK(hypar_topic_options_set_signed(proxy, false));
  static inbox proxy_a, proxy_b;
  hypar_topic *pa = NULL, *pb = NULL;
  OK(hypar_network_join_with(a, "proxy", NULL, 0, proxy, on_message, &proxy_a, &pa));
  addr = first_addr(a);
  bootstrap[0] = addr;
  OK(hypar_network_join_with(b, "proxy", bootstrap, 1, proxy, on_message, &proxy_b, &pb));
  free(addr);
  hypar_topic_options_free(proxy);
  OK(hypar_topic_get_settings(pa, &s));
  CHECK(s.proxy && s.proxy_timeout_ms == 1500 && !s.is_signed);
  wait_stats(pa, has_neighbour);
  wait_stats(pb, has_neighbour);
  for (int i = 0; i < 20; i++) say(pa, "anonymous");
  CHECK(wait_at_least(&proxy_b.received, 20, 20000));
  hypar_topic_stats sa, sb;
  OK(hypar_topic_get_stats(pa, &sa));
  OK(hypar_topic_get_stats(pb, &sb));
  CHECK(sa.published == 20 && sa.handoffs_sent >= 1 && sa.handoffs_sent < 20);
  CHECK(sb.handoffs_taken == sa.handoffs_sent && sb.delivered == 20);
  /* Turned off while joined; the timeout is kept. */
  hypar_topic_options *off = hypar_topic_options_new();
  OK(hypar_topic_options_set_proxy(off, false, 0));
  OK(hypar_topic_configure(pa, off));
  OK(hypar_topic_get_settings(pa, &s));
  CHECK(!s.proxy && s.proxy_timeout_ms == 1500 && !s.is_signed);
  hypar_topic_options_free(off);
  hypar_topic_free(pa);
  hypar_topic_free(pb);

  hypar_topic_free(ta);
  hypar_topic_free(tb);
  hypar_network_free(a);
  hypar_network_free(b);
  puts("options: every option set, read back and changed at runtime, proxy passing included; errors name the option");
  return 0;
}
