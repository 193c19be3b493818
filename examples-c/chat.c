/* Chat over a hypar topic: lines from stdin are gossiped, lines received are
 * printed to stdout. Works interactively and with pipes.
 *
 *   chat [-l MULTIADDR]... TOPIC [BOOTSTRAP_MULTIADDR]...
 *
 * With no bootstrap address this node is the first one: it prints the
 * addresses others can join through on stderr. With bootstrap addresses it
 * waits (up to 10 s) for its first neighbour before reading stdin. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypar.h"

static atomic_int neighbours;

static void on_message(void *userdata, const uint8_t *data, size_t len) {
  (void)userdata;
  fwrite(data, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void on_event(void *userdata, hypar_event_kind kind, const char *topic, const char *peer) {
  (void)userdata, (void)topic;
  if (kind == HYPAR_EVENT_NEIGHBOR_UP) {
    atomic_fetch_add(&neighbours, 1);
    fprintf(stderr, "* %s joined\n", peer);
  } else if (kind == HYPAR_EVENT_NEIGHBOR_DOWN) {
    atomic_fetch_sub(&neighbours, 1);
    fprintf(stderr, "* %s left\n", peer);
  } else if (kind == HYPAR_EVENT_BOOTSTRAP_FAILED) {
    fprintf(stderr, "* no bootstrap peer answered; retrying\n");
  }
}

static int fail(const char *what, hypar_result r) {
  char detail[512];
  hypar_last_error(detail, sizeof detail);
  fprintf(stderr, "chat: %s: %s: %s\n", what, hypar_result_name(r), detail);
  return 1;
}

int main(int argc, char **argv) {
  hypar_network_config *cfg = hypar_network_config_new();
  int i = 1;
  hypar_result r;
  for (; i + 1 < argc && strcmp(argv[i], "-l") == 0; i += 2)
    if ((r = hypar_network_config_add_listen_addr(cfg, argv[i + 1])) != HYPAR_OK) return fail(argv[i + 1], r);
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-l MULTIADDR]... TOPIC [BOOTSTRAP_MULTIADDR]...\n", argv[0]);
    return 2;
  }
  const char *topic_name = argv[i++];
  hypar_network_config_set_event_callback(cfg, on_event, NULL);
  hypar_network *net = NULL;
  r = hypar_network_new(cfg, &net);
  hypar_network_config_free(cfg);
  if (r != HYPAR_OK) return fail("starting the network", r);

  char addrs[4096];
  size_t written = 0;
  if (hypar_network_listen_addrs(net, addrs, sizeof addrs, &written) == HYPAR_OK)
    fprintf(stderr, "listening on (share one of these):\n%s\n", addrs);

  hypar_topic *topic = NULL;
  r = hypar_network_join(net, topic_name, (const char *const *)&argv[i], (size_t)(argc - i), on_message, NULL,
                         &topic);
  if (r != HYPAR_OK) {
    hypar_network_free(net);
    return fail("joining", r);
  }
  for (int waited = 0; argc > i && waited < 10000 && atomic_load(&neighbours) == 0; waited += 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }

  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    r = hypar_topic_gossip(topic, (const uint8_t *)line, strlen(line));
    if (r != HYPAR_OK) fail("sending", r);
  }
  hypar_topic_free(topic);
  hypar_network_free(net);
  return 0;
}
