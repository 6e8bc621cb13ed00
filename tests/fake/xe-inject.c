/* SPDX-License-Identifier: MIT */
/*
 * xe-inject - drive the xe_watch fake kernel (libxefake.so) through its
 * control socket: post VM errors, malformed records, remove devices.
 *
 * Tests use it; so can a human who wants to see an alert go all the way
 * through collectd to their pager without a GPU failing ("fire drill").
 * The protocol is one text line per command, one reply line back
 * (README-fake.md); this program only translates friendlier arguments.
 *
 * Exit status: 0 on "ok", 1 on "err" (the message goes to stderr),
 * 2 on usage or connection errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "xe_watch_uapi.h"

#define EXIT_ERR_REPLY 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "Usage: xe-inject [-s SOCKET] [-t TIMEOUT_MS] COMMAND [ARGS]\n"
    "\n"
    "Talks to the control socket of the xe_watch fake kernel (libxefake.so),\n"
    "SOCKET defaults to $XE_FAKE_CTL. NODE is the device path from the\n"
    "fake's device table (or its last component, e.g. renderD128).\n"
    "\n"
    "Commands:\n"
    "  vm-err NODE [--vm N] [--errno E] [--count N]\n"
    "        post N (default 1) VM_ERR records for VM id N (default 1) to\n"
    "        every watch on NODE; E is a name (ENOMEM, default) or a number\n"
    "        (12, -12), always sent negative. Prints 'ok QUEUED LOST'.\n"
    "  vm-err --client ID [--vm N] [--errno E] [--count N]\n"
    "        the same, to every watch on the DRM file with drm-client-id\n"
    "        ID (a workload's file the faked process took with\n"
    "        pidfd_getfd, or its own)\n"
    "  raw NODE HEX...            one ring slot of exactly these bytes per\n"
    "                             watch (malformed-record tests)\n"
    "  record NODE TYPE SUBTYPE [HEX...]\n"
    "        a well-formed record (TYPE: meta, key, xe or a number;\n"
    "        SUBTYPE: a number, or vm_err, removal, loss)\n"
    "  remove NODE [--flood N]    hot-unplug: removal records, then absent;\n"
    "                             --flood posts N VM_ERR records first in\n"
    "                             the same step (a full ring loses the\n"
    "                             removal record). Prints 'ok QUEUED LOST'\n"
    "                             with --flood.\n"
    "  restore NODE               make NODE present again\n"
    "  state NODE present|absent|einval\n"
    "  watches NODE               print 'ok N', the live watches on NODE\n"
    "  wait-watches NODE N [--timeout-ms MS]\n"
    "                             wait until NODE has N watches (5000 ms)\n"
    "  clients                    print 'ok N ID...', the client ids of the\n"
    "                             other processes' DRM files it holds\n"
    "  wait-clients N [--timeout-ms MS]\n"
    "                             wait until N such files have watches\n"
    "  pause-reads on|off         hold every notification pipe read() of\n"
    "                             the faked process (a reader off the CPU)\n"
    "  swap-getfd FD [FOR]        the next pidfd_getfd() (of fd FOR) gets\n"
    "                             the workload's FD instead (a file swapped\n"
    "                             after its fdinfo was read)\n"
    "  stats                      global counters of the fake\n"
    "  send LINE...               send one raw protocol line\n"
    "\n"
    "Options:\n"
    "  -s, --socket SOCKET        control socket path\n"
    "  -t, --timeout TIMEOUT_MS   how long to wait for a reply (10000)\n"
    "  -h, --help                 this text\n"
    "\n"
    "Exit status: 0 ok, 1 the fake answered err, 2 usage or connection "
    "error.\n";

static const char *prog = "xe-inject";

__attribute__((format(printf, 1, 2), noreturn)) static void
usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry '%s --help'.\n", prog);
  exit(EXIT_USAGE);
}

static bool parse_long(const char *s, long min, long max, long *out) {
  if (s == NULL || *s == '\0')
    return false;
  const char *d = s + (*s == '-' || *s == '+');
  int base = (d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) ? 16 : 10;
  char *end;
  errno = 0;
  long v = strtol(s, &end, base);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* An errno by name (any that glibc knows, plus the usual aliases) or by
 * number with or without sign; returns the positive value or 0. */
static int parse_errno(const char *s) {
  long v;
  if (parse_long(s, -4095, 4095, &v))
    return v < 0 ? (int)-v : (int)v;
  static const struct {
    const char *name;
    int value;
  } aliases[] = {
      {"EWOULDBLOCK", EWOULDBLOCK},
      {"EDEADLOCK", EDEADLOCK},
      {"ENOTSUP", ENOTSUP},
  };
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strcasecmp(s, aliases[i].name) == 0)
      return aliases[i].value;
  for (int e = 1; e < 4096; e++) {
    const char *name = strerrorname_np(e);
    if (name && strcasecmp(s, name) == 0)
      return e;
  }
  return 0;
}

/* Hex from one or more words; ':' '_' '.' and blanks may separate bytes. */
static char *join_hex(char **words, int n) {
  size_t cap = 1;
  for (int i = 0; i < n; i++)
    cap += strlen(words[i]);
  char *out = malloc(cap);
  if (out == NULL)
    usage_error("out of memory");
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    const char *w = words[i];
    if (w[0] == '0' && (w[1] == 'x' || w[1] == 'X'))
      w += 2;
    for (; *w; w++) {
      if (*w == ':' || *w == '_' || *w == '.' || isspace((unsigned char)*w))
        continue;
      if (!isxdigit((unsigned char)*w))
        usage_error("'%s' is not hex", words[i]);
      out[o++] = *w;
    }
  }
  out[o] = '\0';
  if (o % 2)
    usage_error("odd number of hex digits");
  if (o / 2 > WATCH_QUEUE_MAX_RECORD)
    usage_error("at most %d bytes fit in one record", WATCH_QUEUE_MAX_RECORD);
  return out;
}

/* A drm-client-id: decimal (or 0x hex), at most 64 bits. */
static bool parse_client_id(const char *s) {
  if (s == NULL || !isdigit((unsigned char)*s))
    return false;
  int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
  char *end;
  errno = 0;
  (void)strtoull(s, &end, base);
  return errno == 0 && *end == '\0';
}

static long parse_type(const char *s) {
  long v;
  if (strcasecmp(s, "meta") == 0)
    return WATCH_TYPE_META;
  if (strcasecmp(s, "key") == 0)
    return WATCH_TYPE_KEY_NOTIFY;
  if (strcasecmp(s, "xe") == 0 || strcasecmp(s, "drm_xe") == 0)
    return WATCH_TYPE_DRM_XE_NOTIFY;
  if (!parse_long(s, 0, 0xffffff, &v))
    usage_error("bad record type '%s'", s);
  return v;
}

static long parse_subtype(const char *s) {
  long v;
  if (strcasecmp(s, "vm_err") == 0)
    return DRM_XE_WATCH_EVENT_VM_ERR;
  if (strcasecmp(s, "removal") == 0)
    return WATCH_META_REMOVAL_NOTIFICATION;
  if (strcasecmp(s, "loss") == 0)
    return WATCH_META_LOSS_NOTIFICATION;
  if (!parse_long(s, 0, 255, &v))
    usage_error("bad record subtype '%s'", s);
  return v;
}

/* Node paths go on a space-separated line: refuse what cannot. */
static const char *node_arg(const char *s) {
  for (const char *p = s; *p; p++)
    if (isspace((unsigned char)*p))
      usage_error("node '%s' contains blanks", s);
  return s;
}

static void need_args(int argc, int min, int max, const char *cmd) {
  if (argc < min || argc > max)
    usage_error("wrong number of arguments for %s", cmd);
}

/* Builds the protocol line for argv (argv[0] is the command). */
static char *build_line(int argc, char **argv, long *reply_timeout_ms) {
  const char *cmd = argv[0];
  char *line = NULL;
  int r = -1;

  if (strcmp(cmd, "vm-err") == 0 || strcmp(cmd, "vm_err") == 0) {
    static const struct option opts[] = {
        {"vm", required_argument, NULL, 'v'},
        {"errno", required_argument, NULL, 'e'},
        {"count", required_argument, NULL, 'c'},
        {"client", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    long vm = 1, count = 1;
    const char *client = NULL;
    int err = ENOMEM;
    int c;
    optind = 0; /* 0, not 1: also resets glibc's getopt state */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c == 'v' && parse_long(optarg, 0, UINT32_MAX, &vm))
        continue;
      if (c == 'c' && parse_long(optarg, 1, 1000000, &count))
        continue;
      if (c == 'e' && (err = parse_errno(optarg)) > 0)
        continue;
      if (c == 'C' && parse_client_id(optarg)) {
        client = optarg;
        continue;
      }
      if (c == 'e')
        usage_error("unknown errno '%s'", optarg);
      if (c == 'v' || c == 'c' || c == 'C')
        usage_error("bad number '%s'", optarg);
      exit(EXIT_USAGE); /* getopt said why */
    }
    if (client) {
      need_args(argc - optind, 0, 0, "vm-err --client");
      r = asprintf(&line, "vm_err_client %s %ld %d %ld", client, vm, -err,
                   count);
    } else {
      need_args(argc - optind, 1, 1, "vm-err");
      r = asprintf(&line, "vm_err %s %ld %d %ld", node_arg(argv[optind]), vm,
                   -err, count);
    }
  } else if (strcmp(cmd, "raw") == 0) {
    need_args(argc, 3, INT_MAX, cmd);
    char *hex = join_hex(argv + 2, argc - 2);
    if (*hex == '\0')
      usage_error("raw needs at least one byte");
    r = asprintf(&line, "raw %s %s", node_arg(argv[1]), hex);
    free(hex);
  } else if (strcmp(cmd, "record") == 0) {
    need_args(argc, 4, INT_MAX, cmd);
    char *hex = join_hex(argv + 4, argc - 4);
    r = asprintf(&line, "record %s %ld %ld %s", node_arg(argv[1]),
                 parse_type(argv[2]), parse_subtype(argv[3]), *hex ? hex : "-");
    free(hex);
  } else if (strcmp(cmd, "remove") == 0 && argc == 4) {
    if (strcmp(argv[2], "--flood") != 0)
      usage_error("remove NODE [--flood N]");
    long n;
    if (!parse_long(argv[3], 0, 1000000, &n))
      usage_error("bad flood count '%s'", argv[3]);
    r = asprintf(&line, "remove %s %ld", node_arg(argv[1]), n);
  } else if (strcmp(cmd, "remove") == 0 || strcmp(cmd, "restore") == 0 ||
             strcmp(cmd, "watches") == 0) {
    need_args(argc, 2, 2, cmd);
    r = asprintf(&line, "%s %s", cmd, node_arg(argv[1]));
  } else if (strcmp(cmd, "state") == 0) {
    need_args(argc, 3, 3, cmd);
    if (strcmp(argv[2], "present") && strcmp(argv[2], "absent") &&
        strcmp(argv[2], "einval"))
      usage_error("state must be present, absent or einval");
    r = asprintf(&line, "state %s %s", node_arg(argv[1]), argv[2]);
  } else if (strcmp(cmd, "wait-watches") == 0 ||
             strcmp(cmd, "wait_watches") == 0) {
    static const struct option opts[] = {
        {"timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    long tmo = 5000, n;
    int c;
    optind = 0; /* 0, not 1: also resets glibc's getopt state */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c != 't')
        exit(EXIT_USAGE);
      if (!parse_long(optarg, 0, 3600000, &tmo))
        usage_error("bad timeout '%s'", optarg);
    }
    need_args(argc - optind, 2, 2, "wait-watches");
    if (!parse_long(argv[optind + 1], 0, UINT32_MAX, &n))
      usage_error("bad watch count '%s'", argv[optind + 1]);
    r = asprintf(&line, "wait_watches %s %ld %ld", node_arg(argv[optind]), n,
                 tmo);
    if (*reply_timeout_ms < tmo + 5000)
      *reply_timeout_ms = tmo + 5000;
  } else if (strcmp(cmd, "wait-clients") == 0 ||
             strcmp(cmd, "wait_clients") == 0) {
    static const struct option opts[] = {
        {"timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    long tmo = 5000, n;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c != 't')
        exit(EXIT_USAGE);
      if (!parse_long(optarg, 0, 3600000, &tmo))
        usage_error("bad timeout '%s'", optarg);
    }
    need_args(argc - optind, 1, 1, "wait-clients");
    if (!parse_long(argv[optind], 0, UINT32_MAX, &n))
      usage_error("bad client count '%s'", argv[optind]);
    r = asprintf(&line, "wait_clients %ld %ld", n, tmo);
    if (*reply_timeout_ms < tmo + 5000)
      *reply_timeout_ms = tmo + 5000;
  } else if (strcmp(cmd, "pause-reads") == 0) {
    need_args(argc, 2, 2, cmd);
    if (strcmp(argv[1], "on") && strcmp(argv[1], "off"))
      usage_error("pause-reads wants on or off");
    r = asprintf(&line, "pause_reads %s", argv[1]);
  } else if (strcmp(cmd, "swap-getfd") == 0) {
    long fd, for_fd = -1;
    need_args(argc, 2, 3, cmd);
    if (!parse_long(argv[1], 0, INT_MAX, &fd) ||
        (argc == 3 && !parse_long(argv[2], 0, INT_MAX, &for_fd)))
      usage_error("bad fd '%s'", argv[argc - 1]);
    r = argc == 3 ? asprintf(&line, "swap_getfd %ld %ld", fd, for_fd)
                  : asprintf(&line, "swap_getfd %ld", fd);
  } else if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "clients") == 0) {
    need_args(argc, 1, 1, cmd);
    r = asprintf(&line, "%s", cmd);
  } else if (strcmp(cmd, "send") == 0) {
    need_args(argc, 2, INT_MAX, cmd);
    size_t len = 1;
    for (int i = 1; i < argc; i++)
      len += strlen(argv[i]) + 1;
    line = calloc(1, len);
    if (line == NULL)
      usage_error("out of memory");
    for (int i = 1; i < argc; i++) {
      if (i > 1)
        strcat(line, " ");
      strcat(line, argv[i]);
    }
    if (strchr(line, '\n'))
      usage_error("one line only");
    r = 0;
  } else {
    usage_error("unknown command '%s'", cmd);
  }
  if (r < 0)
    usage_error("out of memory");
  return line;
}

/* Sends line, reads one reply line into reply; exits 2 on failure. */
static void exchange(const char *sock, const char *line, long timeout_ms,
                     char *reply, size_t rsz) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof(sa.sun_path)) {
    fprintf(stderr, "%s: socket path too long: %s\n", prog, sock);
    exit(EXIT_USAGE);
  }
  strcpy(sa.sun_path, sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    fprintf(stderr,
            "%s: cannot connect to control socket %s: %s\n"
            "(is a process running with LD_PRELOAD=libxefake.so and "
            "XE_FAKE_CTL=%s?)\n",
            prog, sock, strerror(errno), sock);
    exit(EXIT_USAGE);
  }
  struct timeval tv = {.tv_sec = timeout_ms / 1000,
                       .tv_usec = (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  size_t len = strlen(line);
  char *msg = malloc(len + 2);
  if (msg == NULL)
    usage_error("out of memory");
  memcpy(msg, line, len);
  msg[len++] = '\n';
  for (size_t off = 0; off < len;) {
    ssize_t n = send(fd, msg + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      fprintf(stderr, "%s: sending to %s: %s\n", prog, sock, strerror(errno));
      exit(EXIT_USAGE);
    }
    off += (size_t)n;
  }
  free(msg);

  size_t got = 0;
  while (got < rsz - 1) {
    ssize_t n = recv(fd, reply + got, rsz - 1 - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fprintf(stderr,
              "%s: no reply from %s within %ld ms (is the faked process "
              "stopped, or has it not touched a fake device yet?)\n",
              prog, sock, timeout_ms);
      exit(EXIT_USAGE);
    }
    if (n <= 0) {
      fprintf(stderr, "%s: %s closed the connection without a reply\n", prog,
              sock);
      exit(EXIT_USAGE);
    }
    got += (size_t)n;
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (nl) {
      *nl = '\0';
      close(fd);
      return;
    }
  }
  fprintf(stderr, "%s: reply from %s too long\n", prog, sock);
  exit(EXIT_USAGE);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"socket", required_argument, NULL, 's'},
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *sock = getenv("XE_FAKE_CTL");
  long timeout_ms = 10000;
  int c;

  /* '+': global options end at the command; its own options follow. */
  while ((c = getopt_long(argc, argv, "+s:t:h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      sock = optarg;
      break;
    case 't':
      if (!parse_long(optarg, 1, 3600000, &timeout_ms))
        usage_error("bad timeout '%s'", optarg);
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    default:
      fprintf(stderr, "Try '%s --help'.\n", prog);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc)
    usage_error("no command given");
  if (strcmp(argv[optind], "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  char *line = build_line(argc - optind, argv + optind, &timeout_ms);
  if (sock == NULL || *sock == '\0')
    usage_error("no control socket: pass -s SOCKET or set XE_FAKE_CTL");

  char reply[4096];
  exchange(sock, line, timeout_ms, reply, sizeof(reply));
  free(line);
  if (strncmp(reply, "ok", 2) == 0 && (reply[2] == '\0' || reply[2] == ' ')) {
    puts(reply);
    return 0;
  }
  if (strncmp(reply, "err", 3) == 0 && (reply[3] == '\0' || reply[3] == ' ')) {
    fprintf(stderr, "%s: %s\n", prog, reply[3] ? reply + 4 : "error");
    return EXIT_ERR_REPLY;
  }
  fprintf(stderr, "%s: unexpected reply from %s: %s\n", prog, sock, reply);
  return EXIT_USAGE;
}
