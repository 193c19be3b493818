/* Helpers shared by the C tests: checks that abort with context, and waits. */
#ifndef HYPAR_TEST_UTIL_H
#define HYPAR_TEST_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* nanosleep, popen, fork */
#endif

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypar.h"

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

/* Expect a call to return `want`; on a mismatch print the code names and detail. */
#define EXPECT(want, call)                                                        \
  do {                                                                            \
    hypar_result got_ = (call);                                                   \
    if (got_ != (want)) {                                                         \
      char detail_[512];                                                          \
      hypar_last_error(detail_, sizeof detail_);                                  \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__,      \
              __LINE__, #call, hypar_result_name(got_), hypar_result_name(want),  \
              detail_);                                                           \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

#define OK(call) EXPECT(HYPAR_OK, call)

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait until *value >= target, for at most `ms` milliseconds. */
static inline int wait_at_least(atomic_long *value, long target, long ms) {
  for (long waited = 0; waited < ms; waited += 10) {
    if (atomic_load(value) >= target) return 1;
    sleep_ms(10);
  }
  return atomic_load(value) >= target;
}

/* A network listening on loopback TCP, with an optional event callback. */
static inline hypar_network *loopback_network(
    void (*on_event)(void *, hypar_event_kind, const char *, const char *), void *userdata) {
  hypar_network_config *cfg = hypar_network_config_new();
  CHECK(cfg != NULL);
  OK(hypar_network_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
  if (on_event) OK(hypar_network_config_set_event_callback(cfg, on_event, userdata));
  hypar_network *net = NULL;
  OK(hypar_network_new(cfg, &net));
  hypar_network_config_free(cfg);
  return net;
}

/* The first listen address of `net` (caller frees). */
static inline char *first_addr(const hypar_network *net) {
  size_t need = 0;
  EXPECT(HYPAR_ERR_BUFFER_TOO_SMALL, hypar_network_listen_addrs(net, NULL, 0, &need));
  char *buf = malloc(need);
  size_t written = 0;
  OK(hypar_network_listen_addrs(net, buf, need, &written));
  CHECK(written == need && strlen(buf) + 1 == need);
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  return buf;
}

#endif
