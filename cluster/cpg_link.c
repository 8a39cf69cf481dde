/*
 * cpg_link - connect, join, dispatch and reconnect to a CPG group
 *
 * States: down (no handle; the reconnect timer runs), initialized (a
 * handle, not yet joined) and up (joined; the fd watcher runs). The
 * callbacks find the link through the handle's context. The behaviour
 * on failure is described in cpg_link.h.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>

#include "cpg_link.h"
#include "log.h"
#include "xalloc.h"

#define RETRY_DELAY_MIN 0.1
#define RETRY_DELAY_MAX 2.0

enum link_state { LINK_DOWN, LINK_INITIALIZED, LINK_UP };

struct cpg_link {
	struct ev_loop *loop;
	struct cpg_name group;
	const struct cpg_link_ops *ops;
	void *arg;
	enum link_state state;
	cpg_handle_t handle;
	uint32_t nodeid;
	unsigned members;
	unsigned nodes;
	uint32_t member_nodeids[CPG_MEMBERS_MAX]; /* one per member process */
	double retry_delay;
	char reason[256];
	char logged_reason[256];
	ev_io io;
	ev_timer retry;
};

const char *
cpg_reason_name(uint32_t reason)
{
	switch (reason) {
	case CPG_REASON_JOIN:
		return "join";
	case CPG_REASON_LEAVE:
		return "leave";
	case CPG_REASON_NODEDOWN:
		return "node down";
	case CPG_REASON_NODEUP:
		return "node up";
	case CPG_REASON_PROCDOWN:
		return "process down";
	default:
		return "undefined";
	}
}

static struct cpg_link *
link_of(cpg_handle_t handle)
{
	void *ctx = NULL;

	if (cpg_context_get(handle, &ctx) != CS_OK)
		return NULL;
	return ctx;
}

static void link_fail(struct cpg_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drops the connection and schedules the next attempt. */
static void
link_fail(struct cpg_link *l, const char *fmt, ...)
{
	bool was_up = l->state == LINK_UP;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
	va_end(ap);
	ev_io_stop(l->loop, &l->io);
	if (l->state != LINK_DOWN)
		cpg_finalize(l->handle);
	l->state = LINK_DOWN;
	l->members = 0;
	l->nodes = 0;
	l->retry_delay = RETRY_DELAY_MIN;
	if (was_up) {
		log_notice("left CPG group %s: %s; reconnecting every %.0f s",
			   l->group.value, l->reason, CPG_RECONNECT_INTERVAL);
		snprintf(l->logged_reason, sizeof(l->logged_reason), "%s",
			 l->reason);
	} else if (strcmp(l->reason, l->logged_reason) != 0) {
		log_notice("cluster unavailable: %s; retrying every %.0f s",
			   l->reason, CPG_RECONNECT_INTERVAL);
		snprintf(l->logged_reason, sizeof(l->logged_reason), "%s",
			 l->reason);
	} else {
		log_debug("cluster still unavailable: %s", l->reason);
	}
	ev_timer_set(&l->retry, CPG_RECONNECT_INTERVAL, 0.);
	ev_timer_start(l->loop, &l->retry);
	if (was_up && l->ops->state != NULL)
		l->ops->state(false, l->arg);
}

/* Schedules a quick retry after CS_ERR_TRY_AGAIN. */
static void
link_try_again(struct cpg_link *l, const char *call)
{
	log_debug("%s: CS_ERR_TRY_AGAIN; retrying in %.1f s", call,
		  l->retry_delay);
	ev_timer_set(&l->retry, l->retry_delay, 0.);
	ev_timer_start(l->loop, &l->retry);
	l->retry_delay *= 2;
	if (l->retry_delay > RETRY_DELAY_MAX)
		l->retry_delay = RETRY_DELAY_MAX;
}

static void
deliver_cb(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
	   uint32_t pid, void *msg, size_t len)
{
	struct cpg_link *l = link_of(handle);

	if (l != NULL && l->ops->deliver != NULL)
		l->ops->deliver(nodeid, pid, msg, len, l->arg);
}

static void
confchg_cb(cpg_handle_t handle, const struct cpg_name *group,
	   const struct cpg_address *members, size_t nmembers,
	   const struct cpg_address *left, size_t nleft,
	   const struct cpg_address *joined, size_t njoined)
{
	struct cpg_link *l = link_of(handle);
	uint32_t self = (uint32_t)getpid();

	if (l == NULL)
		return;
	if (nmembers > CPG_MEMBERS_MAX)
		nmembers = CPG_MEMBERS_MAX;
	l->members = (unsigned)nmembers;
	for (size_t i = 0; i < nmembers; i++)
		l->member_nodeids[i] = members[i].nodeid;
	log_info("CPG group %s: %zu members, %zu joined, %zu left",
		 l->group.value, nmembers, njoined, nleft);
	for (size_t i = 0; i < njoined; i++) {
		if (joined[i].nodeid == l->nodeid && joined[i].pid == self)
			continue;
		if (l->ops->joined != NULL)
			l->ops->joined(joined[i].nodeid, joined[i].pid, l->arg);
	}
	for (size_t i = 0; i < nleft; i++)
		if (l->ops->left != NULL)
			l->ops->left(left[i].nodeid, left[i].pid,
				     left[i].reason, l->arg);
}

static void
totem_cb(cpg_handle_t handle, struct cpg_ring_id ring, uint32_t nmembers,
	 const uint32_t *members)
{
	struct cpg_link *l = link_of(handle);

	if (l == NULL)
		return;
	l->nodes = nmembers;
	log_info("corosync membership: ring %u.%llu, %u nodes", ring.nodeid,
		 (unsigned long long)ring.seq, nmembers);
	if (l->ops->ring != NULL)
		l->ops->ring(members, nmembers, l->arg);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cpg_link *l = w->data;
	cs_error_t rc = cpg_dispatch(l->handle, CS_DISPATCH_ALL);

	if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
		link_fail(l, "cpg_dispatch failed: %s", cs_strerror(rc));
}

int
corosync_check_provider(int fd, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(err, errlen,
			 "reading corosync's credentials failed: %s",
			 strerror(errno));
		return -1;
	}
	if (cred.uid != 0) {
		snprintf(err, errlen,
			 "corosync IPC provider pid %ld runs as uid %ld, not "
			 "root; not trusting it",
			 (long)cred.pid, (long)cred.uid);
		return -1;
	}
	return 0;
}

/* Fails the link unless the IPC peer (corosync) runs as root. */
static int
check_provider(struct cpg_link *l, int fd)
{
	char err[200];

	if (corosync_check_provider(fd, err, sizeof(err)) < 0) {
		link_fail(l, "%s", err);
		return -1;
	}
	return 0;
}

static void
link_initialize(struct cpg_link *l)
{
	static cpg_model_v1_data_t model = {
	    .model = CPG_MODEL_V1,
	    .cpg_deliver_fn = deliver_cb,
	    .cpg_confchg_fn = confchg_cb,
	    .cpg_totem_confchg_fn = totem_cb,
	    .flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	cs_error_t rc;
	int fd;

	rc = cpg_model_initialize(&l->handle, CPG_MODEL_V1,
				  (cpg_model_data_t *)&model, l);
	if (rc == CS_ERR_TRY_AGAIN) {
		link_try_again(l, "cpg_model_initialize");
		return;
	}
	if (rc == CS_ERR_LIBRARY) {
		link_fail(l, "corosync is not running (cpg_model_initialize: "
			     "CS_ERR_LIBRARY)");
		return;
	}
	if (rc == CS_ERR_ACCESS) {
		link_fail(l,
			  "corosync denied access (CS_ERR_ACCESS): add a "
			  "uidgid entry for uid %ld to corosync.conf or "
			  "/etc/corosync/uidgid.d/",
			  (long)getuid());
		return;
	}
	if (rc != CS_OK) {
		link_fail(l, "cpg_model_initialize failed: %s",
			  cs_strerror(rc));
		return;
	}
	l->state = LINK_INITIALIZED;
	rc = cpg_fd_get(l->handle, &fd);
	if (rc != CS_OK) {
		link_fail(l, "cpg_fd_get failed: %s", cs_strerror(rc));
		return;
	}
	if (check_provider(l, fd) < 0)
		return;
	ev_io_set(&l->io, fd, EV_READ);
}

static void
link_join(struct cpg_link *l)
{
	cs_error_t rc;
	unsigned int nodeid;

	rc = cpg_local_get(l->handle, &nodeid);
	if (rc == CS_ERR_TRY_AGAIN) {
		link_try_again(l, "cpg_local_get");
		return;
	}
	if (rc != CS_OK) {
		link_fail(l, "cpg_local_get failed: %s", cs_strerror(rc));
		return;
	}
	l->nodeid = nodeid;
	rc = cpg_join(l->handle, &l->group);
	if (rc == CS_ERR_TRY_AGAIN) {
		link_try_again(l, "cpg_join");
		return;
	}
	if (rc != CS_OK) {
		link_fail(l, "cpg_join(%s) failed: %s", l->group.value,
			  cs_strerror(rc));
		return;
	}
	l->state = LINK_UP;
	l->retry_delay = RETRY_DELAY_MIN;
	l->reason[0] = '\0';
	l->logged_reason[0] = '\0';
	ev_io_start(l->loop, &l->io);
	log_notice("joined CPG group %s as node id %u", l->group.value, nodeid);
	if (l->ops->state != NULL)
		l->ops->state(true, l->arg);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cpg_link *l = w->data;

	if (l->state == LINK_DOWN)
		link_initialize(l);
	if (l->state == LINK_INITIALIZED && !ev_is_active(&l->retry))
		link_join(l);
}

struct cpg_link *
cpg_link_new(struct ev_loop *loop, const char *group,
	     const struct cpg_link_ops *ops, void *arg)
{
	struct cpg_link *l = xcalloc(1, sizeof(*l));
	size_t len = strlen(group);

	if (len >= CPG_MAX_NAME_LENGTH)
		len = CPG_MAX_NAME_LENGTH - 1;
	memcpy(l->group.value, group, len);
	l->group.length = (uint32_t)len;
	l->loop = loop;
	l->ops = ops;
	l->arg = arg;
	l->retry_delay = RETRY_DELAY_MIN;
	snprintf(l->reason, sizeof(l->reason), "not connected yet");
	ev_init(&l->io, io_cb);
	ev_init(&l->retry, retry_cb);
	l->io.data = l;
	l->retry.data = l;
	retry_cb(loop, &l->retry, 0);
	return l;
}

int
cpg_link_send(struct cpg_link *l, const void *data, size_t len)
{
	struct iovec iov = {(void *)data, len};
	cs_error_t rc;

	if (l->state != LINK_UP)
		return -1;
	rc = cpg_mcast_joined(l->handle, CPG_TYPE_AGREED, &iov, 1);
	if (rc == CS_OK)
		return 0;
	if (rc == CS_ERR_TRY_AGAIN)
		log_debug("cpg_mcast_joined: CS_ERR_TRY_AGAIN; skipping this "
			  "heartbeat");
	else
		link_fail(l, "cpg_mcast_joined failed: %s", cs_strerror(rc));
	return -1;
}

bool
cpg_link_connected(const struct cpg_link *l)
{
	return l->state == LINK_UP;
}

const char *
cpg_link_reason(const struct cpg_link *l)
{
	return l->reason;
}

uint32_t
cpg_link_nodeid(const struct cpg_link *l)
{
	return l->nodeid;
}

unsigned
cpg_link_members(const struct cpg_link *l)
{
	return l->state == LINK_UP ? l->members : 0;
}

unsigned
cpg_link_nodes(const struct cpg_link *l)
{
	return l->state == LINK_UP ? l->nodes : 0;
}

bool
cpg_link_node_in_group(const struct cpg_link *l, uint32_t nodeid)
{
	if (l->state != LINK_UP)
		return false;
	for (unsigned i = 0; i < l->members; i++)
		if (l->member_nodeids[i] == nodeid)
			return true;
	return false;
}

void
cpg_link_free(struct cpg_link **lp)
{
	struct cpg_link *l = *lp;

	if (l == NULL)
		return;
	ev_io_stop(l->loop, &l->io);
	ev_timer_stop(l->loop, &l->retry);
	if (l->state == LINK_UP)
		cpg_leave(l->handle, &l->group);
	if (l->state != LINK_DOWN)
		cpg_finalize(l->handle);
	free(l);
	*lp = NULL;
}
