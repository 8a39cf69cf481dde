/*
 * local_checks - data_dir probe, data generation, queue size, process
 * liveness
 *
 * Every function returns -1 with a short reason in err and logs nothing;
 * the cluster process decides what to log, so a failing check does not
 * fill the log once a second.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "local_checks.h"

#define QUEUE_ID_LEN 16

int
data_dir_probe(const char *data_dir, char *err, size_t errlen)
{
	char path[4096];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/.cluster-probe.%ld", data_dir,
		     (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "data_dir path too long");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		snprintf(err, errlen, "open(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	if (write_full(fd, "x", 1) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "writing %s failed: %s", path,
			 strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	if (unlink(path) < 0) {
		snprintf(err, errlen, "unlink(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads path; *missing is set when the failure is a missing file. */
static int
generation_parse_file(const char *path, bool allow_zero, uint64_t *out,
		      bool *missing, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	char *end;
	const char *s;
	unsigned long long v;

	*missing = false;
	if (read_file(path, &text, 64) < 0) {
		*missing = errno == ENOENT;
		snprintf(err, errlen, "reading %s failed: %s", path,
			 strerror(errno));
		buf_free(&text);
		return -1;
	}
	s = buf_cstr(&text);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0 || (v == 0 && !allow_zero) ||
	    (*end != '\0' && strcmp(end, "\n") != 0)) {
		snprintf(err, errlen, "%s does not hold a generation number",
			 path);
		buf_free(&text);
		return -1;
	}
	buf_free(&text);
	*out = v;
	return 0;
}

static int
generation_path(const char *data_dir, char *path, size_t pathlen, char *err,
		size_t errlen)
{
	int n = snprintf(path, pathlen, "%s/%s", data_dir, GENERATION_FILE);

	if (n < 0 || (size_t)n >= pathlen) {
		snprintf(err, errlen, "data_dir path too long");
		return -1;
	}
	return 0;
}

int
generation_read(const char *data_dir, uint64_t *out, char *err, size_t errlen)
{
	char path[4096];
	bool missing;

	if (generation_path(data_dir, path, sizeof(path), err, errlen) < 0)
		return -1;
	if (generation_parse_file(path, false, out, &missing, err, errlen) == 0)
		return 0;
	if (!missing)
		return -1;
	if (write_file_atomic(path, "1\n", 2, 0640) < 0) {
		snprintf(err, errlen, "creating %s failed: %s", path,
			 strerror(errno));
		return -1;
	}
	*out = 1;
	return 0;
}

int
generation_peek(const char *data_dir, uint64_t *out, char *err, size_t errlen)
{
	char path[4096];
	bool missing;

	if (generation_path(data_dir, path, sizeof(path), err, errlen) < 0)
		return -1;
	if (generation_parse_file(path, true, out, &missing, err, errlen) == 0)
		return 0;
	if (!missing)
		return -1;
	*out = 0;
	return 0;
}

static bool
is_queue_id(const char *name)
{
	if (strlen(name) != QUEUE_ID_LEN)
		return false;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'A' && name[i] <= 'F')))
			return false;
	return true;
}

int
queue_stats(const char *data_dir, time_t now, uint64_t *size,
	    int64_t *oldest_age, char *err, size_t errlen)
{
	char path[4096], oldest[QUEUE_ID_LEN + 1] = "";
	struct dirent *de;
	struct stat st;
	uint64_t count = 0;
	DIR *d;
	int n;

	n = snprintf(path, sizeof(path), "%s/queue/messages", data_dir);
	if (n < 0 || (size_t)n >= sizeof(path) - QUEUE_ID_LEN - 2) {
		snprintf(err, errlen, "data_dir path too long");
		return -1;
	}
	d = opendir(path);
	if (d == NULL) {
		if (errno == ENOENT) {
			/* The queue manager creates it on its first start. */
			*size = 0;
			*oldest_age = -1;
			return 0;
		}
		snprintf(err, errlen, "opendir(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_queue_id(de->d_name))
			continue;
		count++;
		if (oldest[0] == '\0' || strcmp(de->d_name, oldest) < 0)
			strcpy(oldest, de->d_name);
	}
	closedir(d);
	*size = count;
	*oldest_age = -1;
	if (count == 0)
		return 0;
	snprintf(path + n, sizeof(path) - (size_t)n, "/%s", oldest);
	/* The entry may have been delivered since readdir(). */
	if (stat(path, &st) == 0)
		*oldest_age =
		    now > st.st_mtime ? (int64_t)(now - st.st_mtime) : 0;
	return 0;
}

bool
process_alive(pid_t pid)
{
	char path[64], text[512], *paren;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	/* A dead child stays a zombie until the master reaps it. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return true;
	text[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses. */
	paren = strrchr(text, ')');
	if (paren == NULL || paren[1] != ' ')
		return true;
	return paren[2] != 'Z' && paren[2] != 'X';
}
