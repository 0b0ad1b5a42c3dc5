/*
 * conf.c -- what the server hands a new supervisor: struct sup_conf as JSON over the start
 * socket (W_CONF). The server encodes (spawn.c), the supervisor decodes (supervisor.c); a
 * field the supervisor cannot read fails the start rather than taking a default.
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "json/jsonw.h"

static void
lim_host_write(struct jsonw *w, const struct lim_host *h)
{
	jsonw_key(w, "cgroup");
	jsonw_obj_begin(w);
	jsonw_kint(w, "mode", h->mode);
	jsonw_kstr(w, "memory", h->memory);
	jsonw_kstr(w, "pids", h->pids);
	jsonw_kstr(w, "cpu", h->cpu);
	jsonw_kstr(w, "freezer", h->freezer);
	jsonw_kstr(w, "why", h->why);
	jsonw_obj_end(w);
}

static void
netcfg_write(struct jsonw *w, const struct local_netcfg *n)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "ceiling");
	npol_write_json(w, &n->ceiling);
	jsonw_key(w, "host_ports");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n->nhost_ports; i++)
		jsonw_int(w, n->host_ports[i]);
	jsonw_arr_end(w);
	jsonw_key(w, "pins");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n->npins; i++) {
		char a[64];

		npol_addr_str(n->pins[i].family, n->pins[i].addr, 0, a, sizeof(a));
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", n->pins[i].name);
		jsonw_kstr(w, "addr", a);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static int
netcfg_read(const struct json *j, struct local_netcfg *n, struct arena *a, struct err *e)
{
	const struct json *ports = json_get(j, "host_ports"), *pins = json_get(j, "pins");

	memset(n, 0, sizeof(*n));
	if (j == NULL || j->type != JSON_OBJECT)
		return err_set(e, ERR_PROTO, "the network configuration is damaged");
	if (npol_read_json(json_get(j, "ceiling"), &n->ceiling, a, e) != 0)
		return e->code;
	for (size_t i = 0; ports != NULL && i < ports->count && i < LOCAL_HOST_PORTS_MAX; i++) {
		int64_t v = 0;

		if (!json_int(json_at(ports, i), &v) || v <= 0 || v > 65535)
			return err_set(e, ERR_PROTO, "the network configuration is damaged");
		n->host_ports[n->nhost_ports++] = (uint16_t)v;
	}
	for (size_t i = 0; pins != NULL && i < pins->count && i < LOCAL_PINS_MAX; i++) {
		const struct json *p = json_at(pins, i);
		const char *name = json_get_str(p, "name"), *addr = json_get_str(p, "addr");
		struct local_pin *pin = &n->pins[n->npins];

		if (name == NULL || addr == NULL ||
		    !npol_name_norm(name, pin->name, sizeof(pin->name)))
			return err_set(e, ERR_PROTO, "the network configuration is damaged");
		if (inet_pton(AF_INET, addr, pin->addr) == 1)
			pin->family = AF_INET;
		else if (inet_pton(AF_INET6, addr, pin->addr) == 1)
			pin->family = AF_INET6;
		else
			return err_set(e, ERR_PROTO, "the network configuration is damaged");
		n->npins++;
	}
	return 0;
}

int
netcfg_encode(const struct local_netcfg *n, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	netcfg_write(&w, n);
	return jsonw_error(&w);
}

int
netcfg_decode(const char *json, size_t len, struct local_netcfg *n, struct arena *a, struct err *e)
{
	struct arena *tmp = arena_new(4 * 1024 * 1024);
	const struct json *j = json_parse(json, len, tmp, e);
	int rc = j != NULL ? netcfg_read(j, n, a, e) : e->code;

	arena_free(tmp);
	return rc;
}

int
supconf_encode(const struct sup_conf *c, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "id", c->id);
	jsonw_kstr(&w, "root", c->root);
	jsonw_kstr(&w, "dir", c->dir);
	jsonw_kbool(&w, "isolate", c->isolate);
	jsonw_kint(&w, "host_uid", (int64_t)c->host_uid);
	jsonw_kint(&w, "host_gid", (int64_t)c->host_gid);
	jsonw_kint(&w, "in_uid", c->in_uid);
	jsonw_kstr(&w, "user", c->user);
	jsonw_kint(&w, "memory", c->lim.memory);
	jsonw_kint(&w, "cpu_milli", c->lim.cpu_milli);
	jsonw_kint(&w, "pids", c->lim.pids);
	jsonw_kbool(&w, "ephemeral", c->ephemeral);
	jsonw_key(&w, "net");
	netcfg_write(&w, &c->net);
	lim_host_write(&w, &c->cg);
	jsonw_key(&w, "mounts");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < c->nmounts; i++) {
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "host", c->mounts[i].host);
		jsonw_kstr(&w, "path", c->mounts[i].path);
		jsonw_kbool(&w, "ro", c->mounts[i].ro);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	return jsonw_error(&w);
}

static bool
get_str(const struct json *j, const char *key, char *out, size_t cap)
{
	const char *s = json_get_str(j, key);

	if (s == NULL || strlen(s) >= cap)
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

static int64_t
get_int(const struct json *j, const char *key)
{
	int64_t v = 0;

	json_int(json_get(j, key), &v);
	return v;
}

int
supconf_decode(const char *json, size_t len, struct sup_conf *c, struct err *e)
{
	struct arena *a = arena_new(4 * 1024 * 1024);
	const struct json *j, *cg, *ms;
	bool ok;

	memset(c, 0, sizeof(*c));
	j = json_parse(json, len, a, e);
	ok = j != NULL && j->type == JSON_OBJECT && get_str(j, "id", c->id, sizeof(c->id)) &&
	    get_str(j, "root", c->root, sizeof(c->root)) &&
	    get_str(j, "dir", c->dir, sizeof(c->dir)) &&
	    get_str(j, "user", c->user, sizeof(c->user));
	if (ok) {
		c->isolate = json_truthy(json_get(j, "isolate"));
		c->host_uid = (unsigned long)get_int(j, "host_uid");
		c->host_gid = (unsigned long)get_int(j, "host_gid");
		c->in_uid = (unsigned)get_int(j, "in_uid");
		c->lim.memory = get_int(j, "memory");
		c->lim.cpu_milli = get_int(j, "cpu_milli");
		c->lim.pids = get_int(j, "pids");
		c->ephemeral = json_truthy(json_get(j, "ephemeral"));
		cg = json_get(j, "cgroup");
		c->cg.mode = (enum lim_cg_mode)get_int(cg, "mode");
		get_str(cg, "memory", c->cg.memory, sizeof(c->cg.memory));
		get_str(cg, "pids", c->cg.pids, sizeof(c->cg.pids));
		get_str(cg, "cpu", c->cg.cpu, sizeof(c->cg.cpu));
		get_str(cg, "freezer", c->cg.freezer, sizeof(c->cg.freezer));
		get_str(cg, "why", c->cg.why, sizeof(c->cg.why));
		ms = json_get(j, "mounts");
		for (size_t i = 0; ok && ms != NULL && i < ms->count && i < LOCAL_MOUNTS_MAX; i++) {
			const struct json *m = json_at(ms, i);

			ok = get_str(m, "host", c->mounts[i].host, sizeof(c->mounts[i].host)) &&
			    get_str(m, "path", c->mounts[i].path, sizeof(c->mounts[i].path));
			c->mounts[i].ro = json_truthy(json_get(m, "ro"));
			c->nmounts = i + 1;
		}
	}
	if (ok) {
		c->net_arena = arena_new(2 * 1024 * 1024);
		ok = netcfg_read(json_get(j, "net"), &c->net, c->net_arena, e) == 0;
	}
	arena_free(a);
	if (!ok)
		return err_set(e, ERR_PROTO, "the supervisor's configuration is damaged");
	return 0;
}
