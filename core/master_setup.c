/*
 * master_setup - the master's process setup: the service user, the data
 * and run directories, the pid file, the detach from the terminal, and
 * the check for a changed replication key on reload
 *
 * master_resolve_user() looks the user up once, as root, so that every
 * child can drop privileges with master_become_user() after its fork
 * without reading /etc/passwd again. Started without root, hapostd runs
 * everything as the invoking user and only warns.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "master_int.h"
#include "xalloc.h"

static uid_t run_uid;
static gid_t run_gid;
static bool drop_privileges;

void
master_become_user(void)
{
	const struct cfg *mcfg = master_cfg();
	if (!drop_privileges)
		return;
	if (setgroups(0, NULL) < 0 || initgroups(mcfg->user, run_gid) < 0 ||
	    setgid(run_gid) < 0 || setuid(run_uid) < 0)
		log_fatal("dropping privileges to user %s failed: %m",
			  mcfg->user);
	if (setuid(0) == 0)
		log_fatal("privileges not dropped: setuid(0) still works");
}

int
master_resolve_user(void)
{
	const struct cfg *mcfg = master_cfg();
	struct passwd *pw = getpwnam(mcfg->user);

	if (getuid() != 0) {
		if (pw == NULL || pw->pw_uid != getuid())
			log_warning("not started as root: running as uid %ld "
				    "instead of user %s",
				    (long)getuid(), mcfg->user);
		drop_privileges = false;
		run_uid = getuid();
		run_gid = getgid();
		return 0;
	}
	if (pw == NULL) {
		log_error("user %s not found: create it (useradd --system "
			  "%s) or set user in %s",
			  mcfg->user, mcfg->user, mcfg->path);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("user %s is root; set an unprivileged user",
			  mcfg->user);
		return -1;
	}
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	drop_privileges = true;
	return 0;
}

int
master_prepare_dirs(void)
{
	const struct cfg *mcfg = master_cfg();
	static const char *const subdirs[] = {"", "/queue", "/mail",
					      "/directory"};
	char path[4096];

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", mcfg->data_dir,
			 subdirs[i]);
		if (mkdir_p(path, 0750) < 0) {
			log_error("mkdir(%s) failed: %m", path);
			return -1;
		}
		if (drop_privileges && chown(path, run_uid, run_gid) < 0) {
			log_error("chown(%s) failed: %m", path);
			return -1;
		}
	}
	if (mkdir_p(mcfg->run_dir, 0755) < 0) {
		log_error("mkdir(%s) failed: %m", mcfg->run_dir);
		return -1;
	}
	if (drop_privileges && chown(mcfg->run_dir, run_uid, run_gid) < 0) {
		log_error("chown(%s) failed: %m", mcfg->run_dir);
		return -1;
	}
	return 0;
}

/* Writes the pid file, refusing to start beside a live master. */
int
master_write_pid_file(char **path_out)
{
	const struct cfg *mcfg = master_cfg();
	char *pid_path;
	struct buf b = BUF_INIT;
	char text[32];
	long old;
	int n;

	pid_path = xasprintf("%s/hapostd.pid", mcfg->run_dir);
	*path_out = pid_path;
	if (read_file(pid_path, &b, 64) == 0 &&
	    sscanf(buf_cstr(&b), "%ld", &old) == 1 && old > 0 &&
	    old != getpid() && kill((pid_t)old, 0) == 0) {
		log_error("hapostd is already running with pid %ld (%s)", old,
			  pid_path);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (write_file_atomic(pid_path, text, (size_t)n, 0644) < 0) {
		log_error("writing %s failed: %m", pid_path);
		return -1;
	}
	return 0;
}

void
master_daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal("fork failed: %m");
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		log_fatal("fork failed: %m");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		log_fatal("chdir(/) failed: %m");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

bool
master_repl_key_changed(const struct cfg *cfg)
{
	static unsigned char last[EVP_MAX_MD_SIZE];
	static bool have_last;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	struct buf text = BUF_INIT;
	bool changed;

	if (cfg->replication_key_file == NULL ||
	    cfg->replication_key_file[0] == '\0')
		return false;
	/* A key file is small: replication refuses one past 4 KB. */
	if (read_file(cfg->replication_key_file, &text, 65536) < 0) {
		log_error("cannot read replication_key_file %s: %s; the "
			  "replicator keeps the key it has",
			  cfg->replication_key_file, strerror(errno));
		buf_free(&text);
		return false;
	}
	if (!EVP_Digest(text.data, text.len, digest, &len, EVP_sha256(),
			NULL)) {
		OPENSSL_cleanse(text.data, text.len);
		buf_free(&text);
		return false;
	}
	OPENSSL_cleanse(text.data, text.len);
	buf_free(&text);
	changed = have_last && memcmp(last, digest, len) != 0;
	memcpy(last, digest, len);
	have_last = true;
	return changed;
}
