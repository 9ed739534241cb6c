/*
 * env_guard.c - save, scrub and restore a test's environment (see
 * env_guard.h).
 */
#include "env_guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

struct cdc_env_guard {
    const char *const *prefixes;
    char **saved;     /* "NAME=value" copies of the prefixed variables */
    size_t nsaved;
    char *saved_home; /* NULL: HOME was unset */
    char home[256];
};

static bool scrubbed(const cdc_env_guard_t *g, const char *entry)
{
    for (const char *const *p = g->prefixes; *p; p++)
        if (strncmp(entry, *p, strlen(*p)) == 0)
            return true;
    return false;
}

/* Unset every prefixed variable. */
static void unset_prefixed(const cdc_env_guard_t *g)
{
    /* unsetenv changes environ: find one name at a time. */
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (scrubbed(g, *e)) {
                size_t l = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)l, *e);
                break;
            }
        }
        if (!name[0])
            return;
        unsetenv(name);
    }
}

cdc_env_guard_t *cdc_env_guard_new(const char *const *prefixes,
                                   const char *home_template)
{
    cdc_env_guard_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    g->prefixes = prefixes;
    for (char **e = environ; *e; e++) {
        if (scrubbed(g, *e)) {
            g->saved = realloc(g->saved, (g->nsaved + 1) * sizeof *g->saved);
            assert_non_null(g->saved);
            g->saved[g->nsaved] = strdup(*e);
            assert_non_null(g->saved[g->nsaved]);
            g->nsaved++;
        }
    }
    if (getenv("HOME")) {
        g->saved_home = strdup(getenv("HOME"));
        assert_non_null(g->saved_home);
    }
    unset_prefixed(g);

    assert_true(strlen(home_template) < sizeof g->home);
    snprintf(g->home, sizeof g->home, "%s", home_template);
    assert_non_null(mkdtemp(g->home));
    setenv("HOME", g->home, 1);
    return g;
}

const char *cdc_env_guard_home(const cdc_env_guard_t *g)
{
    return g->home;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

void cdc_env_guard_destroy(cdc_env_guard_t *g)
{
    if (!g)
        return;
    nftw(g->home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    unset_prefixed(g);
    for (size_t i = 0; i < g->nsaved; i++) {
        char *eq = strchr(g->saved[i], '=');
        *eq = '\0';
        setenv(g->saved[i], eq + 1, 1);
        free(g->saved[i]);
    }
    free(g->saved);
    if (g->saved_home)
        setenv("HOME", g->saved_home, 1);
    else
        unsetenv("HOME");
    free(g->saved_home);
    free(g);
}
