/* Topic options from C: a validator refuses what it must, delivered
 * messages name their signed origin and hop count, an unsigned topic names
 * none, and bad option arguments return clear errors. */
#include "util.h"

typedef struct {
  atomic_long judged;
  atomic_long received;
  atomic_long bad_origin;
  char last[64];
  char origin[128];
  uint16_t hops;
} inbox;

/* Payloads starting with "bad" are rejected, "meh" ignored, "odd" answered
 * with a value that is no verdict (counts as ignored); the rest accepted. */
static hypar_verdict judge(void *userdata, const hypar_message *m) {
  inbox *in = userdata;
  atomic_fetch_add(&in->judged, 1);
  if (m->len >= 3 && memcmp(m->data, "bad", 3) == 0) return HYPAR_VERDICT_REJECT;
  if (m->len >= 3 && memcmp(m->data, "meh", 3) == 0) return HYPAR_VERDICT_IGNORE;
  if (m->len >= 3 && memcmp(m->data, "odd", 3) == 0) return 77;
  return HYPAR_VERDICT_ACCEPT;
}

static void on_message(void *userdata, const hypar_message *m) {
  inbox *in = userdata;
  /* The payload is not NUL-terminated: copy it. */
  size_t n = m->len < sizeof in->last - 1 ? m->len : sizeof in->last - 1;
  memcpy(in->last, m->data, n);
  in->last[n] = '\0';
  in->origin[0] = '\0';
  if (m->origin != NULL) {
    if (strlen(m->origin) >= sizeof in->origin) atomic_fetch_add(&in->bad_origin, 1);
    else strcpy(in->origin, m->origin);
  }
  in->hops = m->hops;
  atomic_fetch_add(&in->received, 1);
}

static void peer_id(const hypar_network *net, char *buf, size_t len) {
  size_t written = 0;
  OK(hypar_network_peer_id(net, buf, len, &written));
}

/* Publisher a, receiver b joined through a with `options`. */
static void pair(hypar_network **a, hypar_network **b, hypar_topic **ta, hypar_topic **tb, const char *name,
                 const hypar_topic_options *options, inbox *in) {
  static inbox ignored;
  *a = loopback_network(NULL, NULL);
  *b = loopback_network(NULL, NULL);
  OK(hypar_network_join_with(*a, name, NULL, 0, options, on_message, &ignored, ta));
  char *addr = first_addr(*a);
  const char *bootstrap[] = {addr};
  OK(hypar_network_join_with(*b, name, bootstrap, 1, options, on_message, in, tb));
  free(addr);
  hypar_topic_stats st = {0};
  for (int waited = 0; waited < 20000 && st.active_view == 0; waited += 10) {
    OK(hypar_topic_get_stats(*ta, &st));
    sleep_ms(10);
  }
  CHECK(st.active_view == 1);
}

int main(void) {
  /* Bad arguments. */
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_signed(NULL, true));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_validator(NULL, judge, NULL));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_topic_options_set_validation_timeout_ms(NULL, 5));
  hypar_topic_options_free(NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_ban(NULL, 100, 1000));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_peer_rate(NULL, 100, 0));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_mdns(NULL, true));
  {
    /* Any rate is valid, 0 meaning no bound. LAN discovery starts its
       multicast sockets with the network (tests/hosts proves it finds
       peers; loopback has none to find). */
    hypar_network_config *cfg = hypar_network_config_new();
    OK(hypar_network_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
    OK(hypar_network_config_set_peer_rate(cfg, 2000, 0));
    OK(hypar_network_config_set_mdns(cfg, true));
    hypar_network *net = NULL;
    OK(hypar_network_new(cfg, &net));
    hypar_network_free(net);
    hypar_network_config_free(cfg);
  }
  {
    hypar_network_config *cfg = hypar_network_config_new();
    OK(hypar_network_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
    OK(hypar_network_config_set_ban(cfg, 100, 0));
    hypar_network *none = NULL;
    EXPECT(HYPAR_ERR_INVALID_CONFIG, hypar_network_new(cfg, &none));
    char detail[512];
    hypar_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "ban_duration") != NULL && none == NULL);
    hypar_network_config_free(cfg);
  }

  static inbox in;
  hypar_topic_options *options = hypar_topic_options_new();
  CHECK(options != NULL);
  OK(hypar_topic_options_set_validator(options, judge, &in));
  OK(hypar_topic_options_set_validation_timeout_ms(options, 1000));

  hypar_network *a, *b;
  hypar_topic *ta, *tb;
  pair(&a, &b, &ta, &tb, "validated", options, &in);
  char a_id[128];
  peer_id(a, a_id, sizeof a_id);
  const char *sent[] = {"bad one", "meh one", "odd one", "good one"};
  for (int i = 0; i < 4; i++) OK(hypar_topic_gossip(ta, (const uint8_t *)sent[i], strlen(sent[i])));
  CHECK(wait_at_least(&in.received, 1, 20000));
  /* Verdicts come back in order, so once "good one" arrived all were judged. */
  CHECK(strcmp(in.last, "good one") == 0);
  CHECK(strcmp(in.origin, a_id) == 0 && in.hops == 1 && atomic_load(&in.bad_origin) == 0);
  CHECK(atomic_load(&in.judged) == 4);
  hypar_topic_stats st;
  OK(hypar_topic_get_stats(tb, &st));
  CHECK(st.delivered == 1 && st.rejected == 1 && st.ignored == 2 && st.forged == 0);
  hypar_topic_free(ta);
  hypar_topic_free(tb);
  hypar_network_free(a);
  hypar_network_free(b);

  /* An unsigned topic names no origin; the options may be reused. */
  static inbox plain;
  OK(hypar_topic_options_set_validator(options, NULL, NULL));
  OK(hypar_topic_options_set_signed(options, false));
  pair(&a, &b, &ta, &tb, "unsigned", options, &plain);
  OK(hypar_topic_gossip(ta, (const uint8_t *)"anon", 4));
  CHECK(wait_at_least(&plain.received, 1, 20000));
  CHECK(strcmp(plain.last, "anon") == 0 && plain.origin[0] == '\0' && plain.hops == 1);
  hypar_topic_free(ta);
  hypar_topic_free(tb);
  hypar_network_free(a);
  hypar_network_free(b);

  /* An option out of range is refused at the join, with its name. */
  hypar_network *n = loopback_network(NULL, NULL);
  hypar_topic *t = NULL;
  OK(hypar_topic_options_set_validation_timeout_ms(options, 0));
  EXPECT(HYPAR_ERR_INVALID_CONFIG, hypar_network_join_with(n, "t", NULL, 0, options, on_message, &plain, &t));
  char detail[512];
  hypar_last_error(detail, sizeof detail);
  CHECK(strstr(detail, "validation_timeout") != NULL);
  CHECK(t == NULL);
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_join_with(n, "t", NULL, 0, NULL, NULL, NULL, &t));
  hypar_network_free(n);
  hypar_topic_options_free(options);
  printf("validate: validator verdicts, origins, unsigned topics and option errors as documented\n");
  return 0;
}
