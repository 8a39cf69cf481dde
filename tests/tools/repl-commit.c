/*
 * repl-commit - a writer for the replication tests: commits changes
 * through repl.h and publishes them in data_dir the way the daemon's
 * writers do (replicate, then publish, then repl_done)
 *
 * usage: repl-commit -c CONF [COMMAND ARG...]
 *
 * Without a command, reads one command per line from stdin. Each
 * command is one batch and prints one line, "ok" or "refused: REASON",
 * except admin, which prints the reply and then a line ".":
 *
 *   put REL SPEC      write SPEC to a file in queue/tmp/, commit it as
 *                     REL (with MKDIR records for missing parents), then
 *                     rename it to REL. SPEC: text:STRING, random:BYTES,
 *                     or file:PATH (a copy of PATH).
 *   del REL           unlink
 *   mv FROM TO        rename
 *   mkdir REL         mkdir with parents, mode 0755
 *   rmtree REL        remove a directory tree
 *   append REL TEXT   append TEXT and a newline
 *   data REL TEXT     replace REL with TEXT (repl_add_data)
 *   admin REQUEST...  repl_admin(): STATUS, ROLE active [force], ...
 *   sleep MS          wait
 *
 * The exit code is 0 when every command succeeded, else 1.
 */
#define _XOPEN_SOURCE 700
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "fsutil.h"
#include "log.h"
#include "repl.h"
#include "repl_admin.h"

#define ARGS_MAX 16

static struct cfg cfg;
static unsigned tmp_counter;

static char *
abs_path(const char *rel)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", cfg.data_dir, rel) < 0)
		abort();
	return p;
}

/* Fills out from a content SPEC. Returns -1 with a message on error. */
static int
content(const char *spec, struct buf *out, char *err, size_t errlen)
{
	if (strncmp(spec, "text:", 5) == 0) {
		buf_puts(out, spec + 5);
		return 0;
	}
	if (strncmp(spec, "random:", 7) == 0) {
		long n = strtol(spec + 7, NULL, 10);

		for (long i = 0; i < n; i++)
			buf_putc(out, (char)(random() & 0xff));
		return 0;
	}
	if (strncmp(spec, "file:", 5) == 0) {
		if (read_file(spec + 5, out, (size_t)1 << 31) < 0) {
			snprintf(err, errlen, "%s: %s", spec + 5,
				 strerror(errno));
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown content %s", spec);
	return -1;
}

/* Adds MKDIR records for the missing parents of rel, outermost first. */
static void
add_parents(struct repl_batch *b, const char *rel)
{
	char *copy = strdup(rel), *slash;

	for (slash = strchr(copy, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		char *abs;
		struct stat st;

		*slash = '\0';
		abs = abs_path(copy);
		if (stat(abs, &st) < 0)
			repl_add_mkdir(b, copy, 0755);
		free(abs);
		*slash = '/';
	}
	free(copy);
}

static void
make_parents(const char *abs)
{
	char *dir = path_dirname(abs);

	mkdir_p(dir, 0755);
	free(dir);
}

static int
cmd_put(const char *rel, const char *spec, char *err, size_t errlen)
{
	struct buf data = BUF_INIT;
	struct repl_batch *b;
	char *tmpdir = abs_path("queue/tmp"), *tmp = NULL, *final;
	int fd, ret = -1;

	final = abs_path(rel);
	if (content(spec, &data, err, errlen) < 0)
		goto out;
	mkdir_p(tmpdir, 0755);
	if (asprintf(&tmp, "%s/repl-commit.%d.%u", tmpdir, (int)getpid(),
		     tmp_counter++) < 0)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_full(fd, data.data, data.len) < 0 ||
	    fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	b = repl_batch_new();
	add_parents(b, rel);
	repl_add_file(b, rel, tmp);
	if (repl_commit(b, err, errlen) < 0) {
		unlink(tmp);
		goto out;
	}
	make_parents(final);
	if (rename_durable(tmp, final) < 0) {
		snprintf(err, errlen, "rename %s: %s", final, strerror(errno));
		goto out;
	}
	repl_done();
	ret = 0;
out:
	buf_free(&data);
	free(tmpdir);
	free(tmp);
	free(final);
	return ret;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
cmd_simple(char **argv, int argc, char *err, size_t errlen)
{
	struct repl_batch *b = repl_batch_new();
	const char *cmd = argv[0];
	char *a = argc > 1 ? abs_path(argv[1]) : NULL;
	char *a2 = argc > 2 ? abs_path(argv[2]) : NULL;
	int r = 0;

	if (strcmp(cmd, "del") == 0 && argc == 2) {
		repl_add_unlink(b, argv[1]);
	} else if (strcmp(cmd, "mv") == 0 && argc == 3) {
		add_parents(b, argv[2]);
		repl_add_rename(b, argv[1], argv[2]);
	} else if (strcmp(cmd, "mkdir") == 0 && argc == 2) {
		repl_add_mkdir(b, argv[1], 0755);
	} else if (strcmp(cmd, "rmtree") == 0 && argc == 2) {
		repl_add_rmtree(b, argv[1]);
	} else if (strcmp(cmd, "append") == 0 && argc == 3) {
		repl_add_append(b, argv[1], argv[2], strlen(argv[2]));
		repl_add_append(b, argv[1], "\n", 1);
	} else if (strcmp(cmd, "data") == 0 && argc == 3) {
		repl_add_data(b, argv[1], argv[2], strlen(argv[2]), 0644);
	} else {
		snprintf(err, errlen, "unknown command or wrong arguments: %s",
			 cmd);
		free(b);
		b = NULL;
		r = -1;
	}
	if (b != NULL && repl_commit(b, err, errlen) < 0)
		r = -1;
	if (r == 0) {
		if (strcmp(cmd, "del") == 0) {
			unlink(a);
		} else if (strcmp(cmd, "mv") == 0) {
			make_parents(a2);
			rename_durable(a, a2);
		} else if (strcmp(cmd, "mkdir") == 0) {
			mkdir_p(a, 0755);
		} else if (strcmp(cmd, "rmtree") == 0) {
			nftw(a, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		} else if (strcmp(cmd, "append") == 0) {
			int fd;

			make_parents(a);
			fd = open(a, O_WRONLY | O_APPEND | O_CREAT, 0644);

			if (fd >= 0) {
				write_full(fd, argv[2], strlen(argv[2]));
				write_full(fd, "\n", 1);
				fsync(fd);
				close(fd);
			}
		} else if (strcmp(cmd, "data") == 0) {
			make_parents(a);
			write_file_atomic(a, argv[2], strlen(argv[2]), 0644);
		}
		repl_done();
	}
	free(a);
	free(a2);
	return r;
}

static int
run(char **argv, int argc)
{
	char err[512];
	int r;

	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "admin") == 0 && argc > 1) {
		struct buf req = BUF_INIT, reply = BUF_INIT;

		for (int i = 1; i < argc; i++) {
			if (i > 1)
				buf_putc(&req, ' ');
			buf_puts(&req, argv[i]);
		}
		r = repl_admin(cfg.run_dir, buf_cstr(&req), &reply, err,
			       sizeof(err));
		if (r == 0)
			printf("%s\n.\n", buf_cstr(&reply));
		else
			printf("error: %s\n.\n", err);
		buf_free(&req);
		buf_free(&reply);
		fflush(stdout);
		return r;
	}
	if (strcmp(argv[0], "sleep") == 0 && argc == 2) {
		long ms = strtol(argv[1], NULL, 10);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
		return 0;
	}
	if (strcmp(argv[0], "put") == 0 && argc == 3)
		r = cmd_put(argv[1], argv[2], err, sizeof(err));
	else
		r = cmd_simple(argv, argc, err, sizeof(err));
	if (r == 0)
		printf("ok\n");
	else
		printf("refused: %s\n", err);
	fflush(stdout);
	return r;
}

int
main(int argc, char **argv)
{
	const char *conf = NULL;
	char line[8192], *words[ARGS_MAX], *save;
	char errbuf[512];
	int opt, n, failed = 0;

	while ((opt = getopt(argc, argv, "+c:")) != -1) {
		if (opt == 'c')
			conf = optarg;
	}
	if (conf == NULL) {
		fprintf(stderr,
			"usage: repl-commit -c CONF [COMMAND ARG...]\n");
		return 2;
	}
	log_open("repl-commit", true);
	cfg_defaults(&cfg);
	if (cfg_load(&cfg, conf, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "repl-commit: %s\n", errbuf);
		return 2;
	}
	srandom((unsigned)getpid());
	repl_init(&cfg);
	if (optind < argc)
		return run(argv + optind, argc - optind) < 0 ? 1 : 0;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		n = 0;
		for (char *w = strtok_r(line, " ", &save);
		     w != NULL && n < ARGS_MAX; w = strtok_r(NULL, " ", &save))
			words[n++] = w;
		if (run(words, n) < 0)
			failed = 1;
	}
	repl_close();
	return failed;
}
