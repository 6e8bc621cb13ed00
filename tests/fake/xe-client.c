/* SPDX-License-Identifier: MIT */
/*
 * xe-client - a stand-in GPU workload: holds DRM files open so that the
 * xe_watch plugin's client-attach mode has somebody to attach to.
 *
 * Run it under the fake kernel (LD_PRELOAD=libxefake.so with the same
 * XE_FAKE_DEVICES and XE_FAKE_PROCROOT as collectd, and WITHOUT
 * XE_FAKE_CTL: the control socket belongs to collectd), or on a real GPU.
 * It opens each NODE (--files times), prints one line per file
 *
 *   client <pid> <client-id> <node> <fd>
 *
 * and flushes, then waits until stdin reaches EOF or SIGTERM/SIGINT comes,
 * closes its files and exits 0. A line "close" on stdin, or --close-after-ms,
 * closes its files early (it prints "closed <pid>") and keeps it running, so
 * that a test sees the DRM files released while the process lives.
 *
 * The client id is read from /proc/self/fdinfo (drm-client-id, real
 * kernel) or from the fake's memfd name; "-" if neither says.
 *
 * Exit status: 0 done, 1 a node did not open, 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define EXIT_OPEN 1
#define EXIT_USAGE 2
#define MAX_FILES 256

static const char usage_text[] =
    "Usage: xe-client [OPTIONS] NODE...\n"
    "\n"
    "Opens each DRM NODE, prints 'client PID CLIENT-ID NODE FD' per file,\n"
    "then holds the files until stdin reaches EOF or SIGTERM/SIGINT.\n"
    "A line 'close' on stdin closes them at once (prints 'closed PID').\n"
    "Under the xe_watch fake kernel, run it with LD_PRELOAD=libxefake.so,\n"
    "XE_FAKE_DEVICES and XE_FAKE_PROCROOT, but without XE_FAKE_CTL.\n"
    "\n"
    "Options:\n"
    "  -n, --files N            open each node N times (1); each open is\n"
    "                           its own DRM file with its own client id\n"
    "  -c, --close-after-ms MS  close the files after MS ms, print\n"
    "                           'closed PID', and keep running\n"
    "  -x, --exit-after-ms MS   exit (0) after MS ms at the latest\n"
    "  -C, --comm NAME          set its comm (prctl PR_SET_NAME) first, e.g.\n"
    "                           to one with control characters\n"
    "  -S, --no-stdin           ignore stdin (a background job's stdin is\n"
    "                           /dev/null, which is EOF at once)\n"
    "  -f, --fork               once the files are open, fork: the child\n"
    "                           holds a dup of each (the same DRM files),\n"
    "                           prints 'forked PARENT CHILD', and both wait\n"
    "                           as above (a file shared by two processes)\n"
    "  -h, --help               this text\n";

static const char *prog = "xe-client";

static bool parse_ms(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < 0 || v > 86400000)
    return false;
  *out = v;
  return true;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* drm-client-id of fd: the kernel's fdinfo, else the fake's memfd name
 * ("/memfd:xe-fake-drm:<id>:<node> (deleted)"). */
static bool client_id(int fd, unsigned long long *id) {
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
  FILE *fp = fopen(path, "re");
  if (fp) {
    bool found = false;
    while (!found && fgets(buf, sizeof(buf), fp))
      found = sscanf(buf, "drm-client-id: %llu", id) == 1;
    fclose(fp);
    if (found)
      return true;
  }
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, buf, sizeof(buf) - 1);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  return sscanf(buf, "/memfd:xe-fake-drm:%llu:", id) == 1;
}

static void close_all(int *fds, int *n) {
  for (int i = 0; i < *n; i++)
    close(fds[i]);
  *n = 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"files", required_argument, NULL, 'n'},
      {"close-after-ms", required_argument, NULL, 'c'},
      {"exit-after-ms", required_argument, NULL, 'x'},
      {"no-stdin", no_argument, NULL, 'S'},
      {"comm", required_argument, NULL, 'C'},
      {"fork", no_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  long files = 1, close_ms = -1, exit_ms = -1;
  bool use_stdin = true, fork_after = false;
  int c;
  while ((c = getopt_long(argc, argv, "n:c:x:C:Sfh", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      if (!parse_ms(optarg, &files) || files < 1 || files > MAX_FILES) {
        fprintf(stderr, "%s: --files wants 1..%d\n", prog, MAX_FILES);
        return EXIT_USAGE;
      }
      break;
    case 'c':
    case 'x':
      if (!parse_ms(optarg, c == 'c' ? &close_ms : &exit_ms)) {
        fprintf(stderr, "%s: bad time '%s' (milliseconds)\n", prog, optarg);
        return EXIT_USAGE;
      }
      break;
    case 'S':
      use_stdin = false;
      break;
    case 'C':
      /* Before any open: the fake copies comm at each new DRM fd. */
      if (prctl(PR_SET_NAME, optarg, 0, 0, 0) != 0) {
        fprintf(stderr, "%s: cannot set comm: %s\n", prog, strerror(errno));
        return EXIT_USAGE;
      }
      break;
    case 'f':
      fork_after = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    default:
      fprintf(stderr, "Try '%s --help'.\n", prog);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "%s: no node given\nTry '%s --help'.\n", prog, prog);
    return EXIT_USAGE;
  }
  if ((long)(argc - optind) * files > MAX_FILES) {
    fprintf(stderr, "%s: at most %d files\n", prog, MAX_FILES);
    return EXIT_USAGE;
  }
  if (getenv("XE_FAKE_CTL"))
    fprintf(stderr,
            "%s: warning: XE_FAKE_CTL is set; if this process binds the "
            "fake's control socket first, collectd cannot\n",
            prog);

  /* Under Yama ptrace_scope=1 only ancestors may pidfd_getfd() from us
   * unless we say otherwise; collectd is no ancestor. (A real workload
   * relies on collectd's CAP_SYS_PTRACE instead.) */
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);

  int fds[MAX_FILES];
  int nfds = 0;
  for (int a = optind; a < argc; a++) {
    for (long i = 0; i < files; i++) {
      int fd = open(argv[a], O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, argv[a],
                strerror(errno));
        close_all(fds, &nfds);
        return EXIT_OPEN;
      }
      fds[nfds++] = fd;
      unsigned long long id;
      if (client_id(fd, &id))
        printf("client %d %llu %s %d\n", (int)getpid(), id, argv[a], fd);
      else
        printf("client %d - %s %d\n", (int)getpid(), argv[a], fd);
    }
  }
  fflush(stdout);

  if (fork_after) {
    pid_t parent = getpid(), child = fork();
    if (child < 0) {
      fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
      close_all(fds, &nfds);
      return EXIT_OPEN;
    }
    if (child == 0) {
      /* A dup besides the inherited fd: two descriptors of each file in
       * this process, one more in the parent. */
      for (int i = 0, n = nfds; i < n && nfds < MAX_FILES; i++) {
        int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (d >= 0)
          fds[nfds++] = d;
      }
      printf("forked %d %d\n", (int)parent, (int)getpid());
      fflush(stdout);
    }
  }

  long long start = now_ms();
  bool done = false;
  char line[256];
  size_t len = 0;
  while (!done) {
    long long now = now_ms();
    int timeout = -1;
    if (close_ms >= 0 && nfds > 0) {
      if (now - start >= close_ms) {
        close_all(fds, &nfds);
        printf("closed %d\n", (int)getpid());
        fflush(stdout);
        continue;
      }
      timeout = (int)(start + close_ms - now);
    }
    if (exit_ms >= 0) {
      if (now - start >= exit_ms)
        break;
      int left = (int)(start + exit_ms - now);
      if (timeout < 0 || left < timeout)
        timeout = left;
    }
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
                          {.fd = use_stdin ? 0 : -1, .events = POLLIN}};
    int r = poll(p, 2, timeout);
    if (r < 0 && errno != EINTR) {
      fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
      break;
    }
    if (r > 0 && p[0].revents)
      done = true; /* SIGTERM or SIGINT */
    if (r > 0 && p[1].revents) {
      ssize_t n = read(0, line + len, sizeof(line) - 1 - len);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        done = true; /* EOF */
      len += n > 0 ? (size_t)n : 0;
      line[len] = '\0';
      char *nl;
      while ((nl = strchr(line, '\n')) != NULL) {
        *nl = '\0';
        if (strcmp(line, "close") == 0 && nfds > 0) {
          close_all(fds, &nfds);
          printf("closed %d\n", (int)getpid());
          fflush(stdout);
        }
        len -= (size_t)(nl + 1 - line);
        memmove(line, nl + 1, len + 1);
      }
      if (len == sizeof(line) - 1)
        len = 0; /* not a command of ours */
    }
  }
  close_all(fds, &nfds);
  return 0;
}
