/*
 * master_listen - the master's listening sockets
 *
 * The master binds every listener as root, so privileged ports work, and
 * hands the descriptors to the workers at fork. A reload reuses the
 * sockets whose service and address stay, so established listeners
 * never close. SO_REUSEADDR lets a restart bind while old connections
 * linger in TIME_WAIT, and IPv6 sockets are IPV6_V6ONLY so "[::]:25" and
 * "0.0.0.0:25" can both be configured.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include "log.h"
#include "master_int.h"
#include "xalloc.h"

/* Binds one listener; returns the fd or -1 with the reason logged. */
static int
bind_listener(const struct listen_addr *a)
{
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("socket(%s) failed: %m", a->text);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->sslen) < 0) {
		log_error("bind(%s) failed: %m", a->text);
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) < 0) {
		log_error("listen(%s) failed: %m", a->text);
		close(fd);
		return -1;
	}
	return fd;
}

/* The listeners of svc, the implicit-TLS ones when tls is true (port 25
 * has none). */
static const struct listen_list *
service_list(const struct cfg *cfg, enum service svc, bool tls)
{
	static const struct listen_list none;

	switch (svc) {
	case SERVICE_SMTP:
		return tls ? &none : &cfg->smtp_listen;
	case SERVICE_SUBMISSION:
		return tls ? &cfg->submissions_listen : &cfg->submission_listen;
	case SERVICE_POP3:
		return tls ? &cfg->pop3s_listen : &cfg->pop3_listen;
	default:
		return tls ? &cfg->imaps_listen : &cfg->imap_listen;
	}
}

/*
 * Builds the listener set for cfg, reusing fds from old where the service
 * and address match. Returns -1 if any bind fails (nothing is changed).
 */
int
listeners_build(const struct cfg *cfg, struct listener *old, size_t nold,
		struct listener **out, size_t *nout)
{
	struct listener *ls = NULL;
	size_t n = 0;
	bool *reused = xcalloc(nold + 1, sizeof(bool));

	for (int k = 0; k < 2 * SERVICE_COUNT; k++) {
		int svc = k % SERVICE_COUNT;
		bool tls = k >= SERVICE_COUNT;
		const struct listen_list *l = service_list(cfg, svc, tls);

		for (size_t i = 0; i < l->n; i++) {
			int fd = -1;

			for (size_t j = 0; j < nold; j++) {
				if (!reused[j] && (int)old[j].service == svc &&
				    old[j].tls == tls &&
				    strcmp(old[j].addr, l->v[i].text) == 0) {
					fd = old[j].fd;
					reused[j] = true;
					break;
				}
			}
			if (fd < 0)
				fd = bind_listener(&l->v[i]);
			if (fd < 0)
				goto fail;
			ls = xrealloc(ls, (n + 1) * sizeof(*ls));
			ls[n].fd = fd;
			ls[n].service = svc;
			ls[n].tls = tls;
			ls[n].addr = xstrdup(l->v[i].text);
			n++;
		}
	}
	/* Old sockets not carried over are closed by the caller. */
	for (size_t j = 0; j < nold; j++)
		if (!reused[j])
			old[j].fd = -old[j].fd - 1;
	free(reused);
	*out = ls;
	*nout = n;
	return 0;
fail:
	for (size_t k = 0; k < n; k++) {
		bool was_old = false;

		for (size_t j = 0; j < nold; j++)
			was_old |= old[j].fd == ls[k].fd;
		if (!was_old)
			close(ls[k].fd);
		free((char *)ls[k].addr);
	}
	free(ls);
	free(reused);
	return -1;
}

void
listeners_free(struct listener *ls, size_t n, bool close_all)
{
	for (size_t i = 0; i < n; i++) {
		if (ls[i].fd < 0)
			close(-ls[i].fd - 1);
		else if (close_all)
			close(ls[i].fd);
		free((char *)ls[i].addr);
	}
	free(ls);
}

size_t
listeners_for_probes(const struct cfg *cfg, struct cluster_listener **out)
{
	struct cluster_listener *cl = NULL;
	size_t n = 0;

	for (int svc = 0; svc < SERVICE_COUNT; svc++) {
		const struct listen_list *l = service_list(cfg, svc, false);

		for (size_t i = 0; i < l->n; i++) {
			cl = xrealloc(cl, (n + 1) * sizeof(*cl));
			cl[n].service = service_name(svc);
			cl[n].address = l->v[i].text;
			n++;
		}
	}
	*out = cl;
	return n;
}
