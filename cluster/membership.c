/*
 * membership - node list from cmap, ring from the totem callback
 *
 * The list is kept sorted by node id, so the peer choice and the output
 * do not depend on the order corosync lists its nodes in. The behaviour
 * on failure and the limits are described in membership.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <corosync/cmap.h>
#include <corosync/corotypes.h>

#include "cpg_link.h"
#include "membership.h"

#define NODELIST_PREFIX "nodelist.node."

const char *
ring_state_name(enum ring_state state)
{
	switch (state) {
	case RING_ONLINE:
		return "online";
	case RING_OFFLINE:
		return "offline";
	default:
		return "unknown";
	}
}

const struct corosync_node *
membership_find(const struct membership *m, uint32_t nodeid)
{
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].nodeid == nodeid)
			return &m->nodes[i];
	return NULL;
}

/* Returns the node with this id, inserted in id order when missing, or
 * NULL when the list is full. */
static struct corosync_node *
node_get(struct membership *m, uint32_t nodeid)
{
	size_t at = 0;

	while (at < m->nnodes && m->nodes[at].nodeid < nodeid)
		at++;
	if (at < m->nnodes && m->nodes[at].nodeid == nodeid)
		return &m->nodes[at];
	if (m->nnodes == MEMBERSHIP_NODES_MAX)
		return NULL;
	memmove(&m->nodes[at + 1], &m->nodes[at],
		(m->nnodes - at) * sizeof(m->nodes[0]));
	m->nnodes++;
	memset(&m->nodes[at], 0, sizeof(m->nodes[at]));
	m->nodes[at].nodeid = nodeid;
	return &m->nodes[at];
}

/* Drops nodes that are neither configured nor online. */
static void
prune(struct membership *m)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].configured || m->nodes[i].online)
			m->nodes[kept++] = m->nodes[i];
	m->nnodes = kept;
}

void
membership_set_ring(struct membership *m, const uint32_t *nodeids, size_t n)
{
	for (size_t i = 0; i < m->nnodes; i++)
		m->nodes[i].online = false;
	for (size_t i = 0; i < n; i++) {
		struct corosync_node *node;

		if (nodeids[i] == 0)
			continue;
		node = node_get(m, nodeids[i]);
		if (node != NULL)
			node->online = true;
	}
	prune(m);
	m->ring_known = true;
}

void
membership_clear_ring(struct membership *m)
{
	for (size_t i = 0; i < m->nnodes; i++)
		m->nodes[i].online = false;
	prune(m);
	m->ring_known = false;
}

void
membership_set_nodelist(struct membership *m, const struct corosync_node *nodes,
			size_t n)
{
	for (size_t i = 0; i < m->nnodes; i++) {
		m->nodes[i].configured = false;
		m->nodes[i].name[0] = '\0';
	}
	for (size_t i = 0; i < n; i++) {
		struct corosync_node *node;

		if (nodes[i].nodeid == 0)
			continue;
		node = node_get(m, nodes[i].nodeid);
		if (node == NULL)
			continue;
		node->configured = true;
		if (node_name_valid(nodes[i].name))
			memcpy(node->name, nodes[i].name, sizeof(node->name));
	}
	prune(m);
}

enum ring_state
membership_ring_state(const struct membership *m, uint32_t nodeid)
{
	const struct corosync_node *node;

	if (!m->ring_known)
		return RING_UNKNOWN;
	node = membership_find(m, nodeid);
	return node != NULL && node->online ? RING_ONLINE : RING_OFFLINE;
}

const struct corosync_node *
membership_peer(const struct membership *m, uint32_t self)
{
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].nodeid != self)
			return &m->nodes[i];
	return NULL;
}

/* Copies the string value of key into dst when it exists and fits. */
static void
cmap_name(cmap_handle_t h, const char *key, char *dst, size_t dstlen)
{
	char *value = NULL;

	if (cmap_get_string(h, key, &value) != CS_OK || value == NULL)
		return;
	if (strlen(value) < dstlen)
		strcpy(dst, value);
	free(value);
}

/* Reads node index idx: its id (required) and its name. */
static int
read_node(cmap_handle_t h, unsigned idx, struct corosync_node *node)
{
	char key[CMAP_KEYNAME_MAXLEN + 1];

	memset(node, 0, sizeof(*node));
	snprintf(key, sizeof(key), NODELIST_PREFIX "%u.nodeid", idx);
	if (cmap_get_uint32(h, key, &node->nodeid) != CS_OK)
		return -1;
	snprintf(key, sizeof(key), NODELIST_PREFIX "%u.name", idx);
	cmap_name(h, key, node->name, sizeof(node->name));
	if (node->name[0] == '\0') {
		snprintf(key, sizeof(key), NODELIST_PREFIX "%u.ring0_addr",
			 idx);
		cmap_name(h, key, node->name, sizeof(node->name));
	}
	return 0;
}

/* Iterates over the nodelist keys and reads each node once. */
static int
read_nodelist(cmap_handle_t h, struct corosync_node *nodes, size_t *n,
	      char *err, size_t errlen)
{
	cmap_iter_handle_t iter;
	char key[CMAP_KEYNAME_MAXLEN + 1];
	size_t value_len;
	cmap_value_types_t type;
	cs_error_t rc;

	*n = 0;
	rc = cmap_iter_init(h, NODELIST_PREFIX, &iter);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cmap_iter_init(%s) failed: %s",
			 NODELIST_PREFIX, cs_strerror(rc));
		return -1;
	}
	while (cmap_iter_next(h, iter, key, &value_len, &type) == CS_OK) {
		unsigned idx;
		int end = 0;

		/* Each node has one "nodelist.node.N.nodeid" key. */
		if (sscanf(key, NODELIST_PREFIX "%u.nodeid%n", &idx, &end) !=
			1 ||
		    end == 0 || key[end] != '\0')
			continue;
		if (*n == MEMBERSHIP_NODES_MAX)
			break;
		if (read_node(h, idx, &nodes[*n]) == 0)
			(*n)++;
	}
	cmap_iter_finalize(h, iter);
	return 0;
}

int
membership_load_nodelist(struct membership *m, char *err, size_t errlen)
{
	struct corosync_node nodes[MEMBERSHIP_NODES_MAX];
	cmap_handle_t h;
	cs_error_t rc;
	size_t n;
	int fd, ret = -1;

	rc = cmap_initialize(&h);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cmap_initialize failed: %s",
			 cs_strerror(rc));
		return -1;
	}
	rc = cmap_fd_get(h, &fd);
	if (rc != CS_OK) {
		snprintf(err, errlen, "cmap_fd_get failed: %s",
			 cs_strerror(rc));
		goto out;
	}
	if (corosync_check_provider(fd, err, errlen) < 0)
		goto out;
	if (read_nodelist(h, nodes, &n, err, errlen) < 0)
		goto out;
	membership_set_nodelist(m, nodes, n);
	ret = 0;
out:
	cmap_finalize(h);
	return ret;
}
