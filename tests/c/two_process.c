/* Two processes talk over TCP on loopback. The parent starts a network,
 * runs `two_process child <addr>` through popen, and each side must
 * receive the other's greeting. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "util.h"

static atomic_long got;

static void on_message(void *userdata, const uint8_t *data, size_t len) {
  const char *want = userdata;
  if (len == strlen(want) && memcmp(data, want, len) == 0) atomic_store(&got, 1);
}

/* Gossip `greeting` every 100 ms until the other side's arrives (max 30 s). */
static int greet_until_greeted(const hypar_topic *t, const char *greeting) {
  for (int i = 0; i < 300 && !atomic_load(&got); i++) {
    OK(hypar_topic_gossip(t, (const uint8_t *)greeting, strlen(greeting)));
    sleep_ms(100);
  }
  return (int)atomic_load(&got);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) {
    hypar_network *net = loopback_network(NULL, NULL);
    hypar_topic *t = NULL;
    const char *boot[] = {argv[2]};
    OK(hypar_network_join(net, "two-process", boot, 1, on_message, "hello from the parent", &t));
    int ok = greet_until_greeted(t, "hello from the child");
    sleep_ms(300); /* let the last greetings go out */
    hypar_topic_free(t);
    hypar_network_free(net);
    return ok ? 0 : 1;
  }
  hypar_network *net = loopback_network(NULL, NULL);
  hypar_topic *t = NULL;
  OK(hypar_network_join(net, "two-process", NULL, 0, on_message, "hello from the child", &t));
  char *addr = first_addr(net);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s child '%s'", argv[0], addr);
  free(addr);
  FILE *child = popen(cmd, "r");
  CHECK(child != NULL);
  int ok = greet_until_greeted(t, "hello from the parent");
  for (int i = 0; i < 10; i++) {
    OK(hypar_topic_gossip(t, (const uint8_t *)"hello from the parent", 21));
    sleep_ms(50);
  }
  int status = pclose(child);
  hypar_topic_free(t);
  hypar_network_free(net);
  CHECK(ok);
  CHECK(status == 0);
  printf("two_process: greetings crossed between two processes over TCP\n");
  return 0;
}
