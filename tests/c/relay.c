/* Relays from C, between real networks on loopback: a node reserves a slot on
 * the relay it bootstraps from (HYPAR_EVENT_RELAY_RESERVED, the circuit
 * address among its listen addresses, the reachability in its stats), and a
 * node whose only contact is that circuit address joins and gets its
 * messages. A node with a declared external address is public at once. */
#include "util.h"

static atomic_long reserved;
static atomic_long other_events;

static void on_event(void *userdata, hypar_event_kind kind, const char *topic, const char *peer) {
  const char *relay_id = userdata;
  if (kind == HYPAR_EVENT_RELAY_RESERVED) {
    /* Network-wide: no topic; the peer is the relay. */
    CHECK(topic != NULL && topic[0] == '\0');
    CHECK(peer != NULL && strcmp(peer, relay_id) == 0);
    atomic_fetch_add(&reserved, 1);
  } else {
    atomic_fetch_add(&other_events, 1);
  }
}

static atomic_long received;

static void on_message(void *userdata, const uint8_t *data, size_t len) {
  (void)userdata;
  /* Not NUL-terminated: compare lengths and bytes. */
  if (len == 17 && memcmp(data, "through the relay", 17) == 0) atomic_fetch_add(&received, 1);
}

/* The listen address of `net` that contains "/p2p-circuit/" (caller frees). */
static char *circuit_addr(const hypar_network *net) {
  size_t need = 0;
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_network_listen_addrs(net, NULL, 0, &need));
  char *buf = malloc(need);
  OK(hypar_network_listen_addrs(net, buf, need, &need));
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    if (strstr(line, "/p2p-circuit/")) {
      char *out = strdup(line);
      free(buf);
      return out;
    }
  }
  free(buf);
  return NULL;
}

int main(void) {
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_relay_server(NULL, true));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_upnp(NULL, true));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_set_private_is_public(NULL, true));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_add_external_addr(NULL, "/ip4/192.0.2.1/tcp/1"));

  hypar_network_config *rcfg = hypar_network_config_new();
  OK(hypar_network_config_add_listen_addr(rcfg, "/ip4/127.0.0.1/tcp/0"));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_add_external_addr(rcfg, "not a multiaddr"));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_add_external_addr(rcfg, NULL));
  OK(hypar_network_config_set_relay_server(rcfg, true));
  OK(hypar_network_config_set_upnp(rcfg, false));
  hypar_network *r = NULL;
  OK(hypar_network_new(rcfg, &r));
  hypar_network_config_free(rcfg);
  hypar_topic *tr = NULL;
  OK(hypar_network_join(r, "circuit", NULL, 0, on_message, NULL, &tr));
  char relay_id[128];
  size_t written = 0;
  OK(hypar_network_peer_id(r, relay_id, sizeof relay_id, &written));

  /* A reserves a slot on R. */
  hypar_network *a = loopback_network(on_event, relay_id);
  hypar_topic *ta = NULL;
  char *r_addr = first_addr(r);
  const char *via_r[] = {r_addr};
  OK(hypar_network_join(a, "circuit", via_r, 1, on_message, NULL, &ta));
  CHECK(wait_at_least(&reserved, 1, 20000));
  hypar_network_stats st;
  OK(hypar_network_get_stats(a, &st));
  /* Loopback is not a public address: AutoNAT never finds A public. */
  CHECK(st.reachability == HYPAR_REACHABILITY_UNKNOWN);
  CHECK(st.direct_links == 1 && st.relayed_links == 0);
  char *circuit = circuit_addr(a);
  CHECK(circuit != NULL);

  /* C knows only A's circuit address. */
  hypar_network *c = loopback_network(NULL, NULL);
  hypar_topic *tc = NULL;
  const char *via_circuit[] = {circuit};
  OK(hypar_network_join(c, "circuit", via_circuit, 1, on_message, NULL, &tc));
  hypar_topic_stats ts;
  for (int waited = 0; waited < 20000; waited += 10) {
    OK(hypar_topic_get_stats(tc, &ts));
    if (ts.active_view > 0) break;
    sleep_ms(10);
  }
  CHECK(ts.active_view > 0);
  OK(hypar_topic_gossip(ta, (const uint8_t *)"through the relay", 17));
  CHECK(wait_at_least(&received, 1, 20000));

  /* A declared external address: public at once, no reservation. Name
     servers are IP addresses. */
  hypar_network_config *pcfg = hypar_network_config_new();
  OK(hypar_network_config_add_listen_addr(pcfg, "/ip4/127.0.0.1/tcp/0"));
  EXPECT(HYPAR_ERR_INVALID_ARGUMENT, hypar_network_config_add_dns_server(pcfg, "dns.example"));
  EXPECT(HYPAR_ERR_NULL_ARGUMENT, hypar_network_config_add_dns_server(pcfg, NULL));
  OK(hypar_network_config_add_dns_server(pcfg, "192.0.2.53"));
  OK(hypar_network_config_add_external_addr(pcfg, "/ip4/192.0.2.7/tcp/4001"));
  hypar_network *p = NULL;
  OK(hypar_network_new(pcfg, &p));
  hypar_network_config_free(pcfg);
  OK(hypar_network_get_stats(p, &st));
  CHECK(st.reachability == HYPAR_REACHABILITY_PUBLIC);

  free(circuit);
  free(r_addr);
  hypar_topic_free(tc);
  hypar_topic_free(ta);
  hypar_topic_free(tr);
  hypar_network_free(p);
  hypar_network_free(c);
  hypar_network_free(a);
  hypar_network_free(r);
  printf("relay: reserved on a relay, joined through a circuit address, delivered; external address public\n");
  return 0;
}
