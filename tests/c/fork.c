/* A handle used in a fork()ed child returns HYPAR_ERR_FORKED instead of
 * hanging on threads that do not exist in the child. Not run under valgrind:
 * the child leaks the parent's network on purpose. */
#include "util.h"

#include <sys/wait.h>
#include <unistd.h>

static void noop_message(void *userdata, const uint8_t *data, size_t len) {
  (void)userdata, (void)data, (void)len;
}

int main(void) {
  hypar_network *net = loopback_network(NULL, NULL);
  hypar_topic *t = NULL;
  OK(hypar_network_join(net, "fork", NULL, 0, noop_message, NULL, &t));
  fflush(NULL);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    alarm(60); /* a child that hangs is killed, and the parent's check fails */
    hypar_network_stats ns;
    hypar_topic *t2 = NULL;
    size_t w = 0;
    char buf[128];
    int ok = hypar_topic_gossip(t, (const uint8_t *)"child", 5) == HYPAR_ERR_FORKED &&
             hypar_network_get_stats(net, &ns) == HYPAR_ERR_FORKED &&
             hypar_network_peer_id(net, buf, sizeof buf, &w) == HYPAR_ERR_FORKED &&
             hypar_network_join(net, "other", NULL, 0, noop_message, NULL, &t2) == HYPAR_ERR_FORKED &&
             hypar_network_shutdown(net) == HYPAR_ERR_FORKED;
    hypar_topic_free(t); /* leaks rather than touching the parent's threads */
    hypar_network_free(net);
    /* the child may start a network of its own */
    hypar_network *own = loopback_network(NULL, NULL);
    hypar_network_free(own);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  OK(hypar_topic_gossip(t, (const uint8_t *)"parent", 6)); /* the parent is unaffected */
  hypar_topic_free(t);
  hypar_network_free(net);
  printf("fork: the child got HYPAR_ERR_FORKED and could start its own network\n");
  return 0;
}
