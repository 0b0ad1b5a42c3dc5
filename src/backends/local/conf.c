/*
 * conf.c -- what the server hands a new supervisor: struct sup_conf as JSON over the start
 * socket (W_CONF). The server encodes (spawn.c), the supervisor decodes (supervisor.c); a
 * field the supervisor cannot read fails the start rather than taking a default.
 */
#include "backends/local/internal.h"

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
	jsonw_kbool(&w, "deny_net", c->deny_net);
	jsonw_kbool(&w, "ephemeral", c->ephemeral);
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
	struct arena *a = arena_new(1024 * 1024);
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
		c->deny_net = json_truthy(json_get(j, "deny_net"));
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
	arena_free(a);
	if (!ok)
		return err_set(e, ERR_PROTO, "the supervisor's configuration is damaged");
	return 0;
}
