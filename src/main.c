/*
 * main.c - the dsqlcdc command line: run, check, token, offsets.
 *
 * Parses arguments, loads configuration and hands over to the app, the
 * token generator or the offset store. The only place that exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "check.h"
#include "auth/credentials.h"
#include "auth/token.h"
#include "common/log.h"
#include "config/config.h"
#include "offsets/store.h"

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,  /* the daemon or a command failed while running */
    EXIT_USAGE = 2,    /* bad command line */
    EXIT_CONFIG = 3,   /* configuration invalid, or a check failed */
};

static const char usage_text[] =
    "Usage: dsqlcdc <command> [options]\n"
    "\n"
    "Streams row changes from Amazon Aurora DSQL (or PostgreSQL) to Kafka.\n"
    "\n"
    "Commands:\n"
    "  run --config FILE        Run the daemon in the foreground until SIGTERM/SIGINT.\n"
    "  check --config FILE [--no-connect]\n"
    "                           Validate the configuration (every problem), then\n"
    "                           check credentials, token, database, tables and\n"
    "                           Kafka, one line each (skipped with --no-connect).\n"
    "  token --hostname H --region R [--admin] [--expires-in SECONDS]\n"
    "        [--time YYYYMMDDTHHMMSSZ] [--profile P]\n"
    "                           Print a DSQL IAM auth token (credentials from the\n"
    "                           AWS default chain), like\n"
    "                           `aws dsql generate-db-connect-auth-token`.\n"
    "  offsets show --config FILE\n"
    "                           Print the stored position of each table.\n"
    "  offsets reset --config FILE --table T [--to-timestamp TS]\n"
    "                           Forget a table's position (it restarts per\n"
    "                           dsql.start.mode), or set it to just before TS.\n"
    "  config-reference         Print the configuration reference (Markdown).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE        Connector JSON ({\"name\":..,\"config\":{..}} or a bare map).\n"
    "  -f, --foreground         Stay in the foreground (the default; accepted for scripts).\n"
    "  -h, --help               Show this help.\n"
    "  -V, --version            Show the version.\n"
    "\n"
    "Exit status: 0 success; 1 failure while running; 2 bad command line;\n"
    "3 invalid configuration (run/check) or failed check.\n"
    "\n"
    "Configuration keys: docs/config.md, or `dsqlcdc config-reference`.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("dsqlcdc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'dsqlcdc --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Load and validate; print every problem to stderr. NULL on failure. */
static cdc_config_t *load_config(const char *path)
{
    cdc_config_t *c = cdc_config_new();
    if (!c) {
        fputs("dsqlcdc: out of memory\n", stderr);
        return NULL;
    }
    cdc_buf_t problems;
    cdc_buf_init(&problems);
    cdc_err_t err = cdc_config_load_file(c, path, &problems);
    if (err == CDC_OK || problems.len)
        if (cdc_config_validate(c, &problems) != CDC_OK)
            err = CDC_ERR_CONFIG;
    if (err != CDC_OK) {
        char line[1200];
        fprintf(stderr, "dsqlcdc: configuration %s is invalid:\n", path);
        /* Problems may quote values: redact before printing. */
        for (char *p = problems.data, *nl; p && *p; p = nl + 1) {
            nl = strchr(p, '\n');
            *nl = '\0';
            cdc_log_redact(p, line, sizeof line);
            fprintf(stderr, "  ✘ %s\n", line);
        }
        cdc_buf_free(&problems);
        cdc_config_destroy(c);
        return NULL;
    }
    cdc_buf_free(&problems);
    return c;
}

static void apply_log_config(const cdc_config_t *c)
{
    cdc_log_level_t level;
    cdc_log_format_t format;
    if (cdc_log_level_parse(cdc_config_str(c, CDC_KEY_LOG_LEVEL), &level) == CDC_OK)
        cdc_log_set_level(level);
    if (cdc_log_format_parse(cdc_config_str(c, CDC_KEY_LOG_FORMAT), &format) == CDC_OK)
        cdc_log_set_format(format);
}

/* Options shared by the config-taking commands. */
static const struct option config_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"foreground", no_argument, NULL, 'f'},
    {"table", required_argument, NULL, 't'},
    {"to-timestamp", required_argument, NULL, 'T'},
    {"no-connect", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char *config;
    const char *table;
    const char *to_timestamp;
    bool no_connect;
} cmd_args_t;

static int parse_cmd_args(int argc, char **argv, cmd_args_t *a, bool table_ok)
{
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:fh", config_opts, NULL)) != -1) {
        switch (opt) {
        case 'c': a->config = optarg; break;
        case 'f': break;
        case 'n': a->no_connect = true; break;
        case 't':
        case 'T':
            if (!table_ok)
                return usage_error("option '%s' only applies to 'offsets reset'",
                                   argv[optind - 1]);
            if (opt == 't')
                a->table = optarg;
            else
                a->to_timestamp = optarg;
            break;
        case 'h': fputs(usage_text, stdout); exit(EXIT_OK);
        default: return usage_error("%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->config)
        return usage_error("%s", "--config FILE is required");
    return EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
    cmd_args_t a = {0};
    int rc = parse_cmd_args(argc, argv, &a, false);
    if (rc)
        return rc;
    cdc_config_t *c = load_config(a.config);
    if (!c)
        return EXIT_CONFIG;
    apply_log_config(c);
    char errstr[512];
    if (cdc_config_str(c, CDC_KEY_LOG_FILE) &&
        cdc_log_set_file(cdc_config_str(c, CDC_KEY_LOG_FILE), errstr,
                         sizeof errstr) != CDC_OK) {
        fprintf(stderr, "dsqlcdc: %s\n", errstr);
        cdc_config_destroy(c);
        return EXIT_CONFIG;
    }
    cdc_err_t err = cdc_app_run(c, errstr, sizeof errstr);
    if (err != CDC_OK)
        cdc_log_error("main", "stopped: %s", errstr);
    cdc_config_destroy(c);
    return err == CDC_OK ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_check(int argc, char **argv)
{
    cmd_args_t a = {0};
    int rc = parse_cmd_args(argc, argv, &a, false);
    if (rc)
        return rc;
    cdc_config_t *c = load_config(a.config);
    if (!c)
        return EXIT_CONFIG;
    printf("✔ configuration %s is valid\n", a.config);
    printf("  connector %s: %zu table(s), sink %s\n",
           cdc_config_str(c, CDC_KEY_NAME),
           cdc_config_list_count(c, CDC_KEY_TABLES),
           cdc_config_str(c, CDC_KEY_SINK_TYPE));
    cdc_config_print(c, stdout);
    int failures = 0;
    if (!a.no_connect) {
        fflush(stdout);
        apply_log_config(c);
        /* The checks report their own findings; only errors from below. */
        cdc_log_set_level(CDC_LOG_ERROR);
        failures = cdc_check_run(c, stdout);
        printf("%s\n", failures ? "✘ check failed: fix the ✘ lines above"
                                 : "✔ all checks passed");
    }
    cdc_config_destroy(c);
    return failures ? EXIT_CONFIG : EXIT_OK;
}

/* Parse YYYYMMDDTHHMMSSZ as UTC, strictly: no field may roll over. */
static int parse_amz_time(const char *s, time_t *out)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int v[6];
    static const int at[6] = {0, 4, 6, 9, 11, 13}, len[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        char buf[5] = {0};
        memcpy(buf, s + at[i], (size_t)len[i]);
        v[i] = atoi(buf);
    }
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
                    .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5]};
    time_t t = timegm(&tm);
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != v[0] - 1900 ||
        back.tm_mon != v[1] - 1 || back.tm_mday != v[2] || back.tm_hour != v[3] ||
        back.tm_min != v[4] || back.tm_sec != v[5])
        return -1;
    *out = t;
    return 0;
}

static int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hostname", required_argument, NULL, 'H'},
        {"region", required_argument, NULL, 'r'},
        {"admin", no_argument, NULL, 'a'},
        {"expires-in", required_argument, NULL, 'e'},
        {"time", required_argument, NULL, 't'},
        {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *host = NULL, *region = NULL, *profile = NULL;
    bool admin = false;
    int expires = 0;
    time_t when = time(NULL);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'r': region = optarg; break;
        case 'a': admin = true; break;
        case 'p': profile = optarg; break;
        case 'e': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 604800)
                return usage_error("--expires-in '%s': give seconds, 1..604800",
                                   optarg);
            expires = (int)v;
            break;
        }
        case 't':
            if (parse_amz_time(optarg, &when) != 0)
                return usage_error("--time '%s': expected YYYYMMDDTHHMMSSZ, "
                                   "e.g. 20251219T120000Z", optarg);
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: return usage_error("%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!host)
        return usage_error("%s", "--hostname is required (the cluster endpoint)");

    char errstr[2048], reg[64];
    if (cdc_aws_region_resolve(region, profile, reg, sizeof reg, errstr,
                               sizeof errstr) != CDC_OK) {
        fprintf(stderr, "dsqlcdc: %s; or pass --region R\n",
                errstr);
        return EXIT_RUNTIME;
    }
    cdc_cred_chain_t *chain = cdc_cred_chain_new(profile);
    const cdc_aws_creds_t *creds;
    if (!chain || cdc_cred_chain_get(chain, &creds, errstr, sizeof errstr) != CDC_OK) {
        fprintf(stderr, "dsqlcdc: %s\n", chain ? errstr : "out of memory");
        cdc_cred_chain_destroy(chain);
        return EXIT_RUNTIME;
    }
    cdc_buf_t tok;
    cdc_buf_init(&tok);
    cdc_err_t err = cdc_dsql_token_generate(host, reg, admin, expires, creds,
                                            when, &tok, errstr, sizeof errstr);
    if (err == CDC_OK)
        printf("%s\n", cdc_buf_str(&tok));
    else
        fprintf(stderr, "dsqlcdc: %s\n", errstr);
    cdc_buf_wipe(&tok);
    cdc_cred_chain_destroy(chain);
    return err == CDC_OK ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_offsets(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "offsets needs 'show' or 'reset'");
    const char *action = argv[1];
    bool reset = strcmp(action, "reset") == 0;
    if (!reset && strcmp(action, "show") != 0)
        return usage_error("unknown offsets action '%s' (show, reset)", action);
    cmd_args_t a = {0};
    int rc = parse_cmd_args(argc - 1, argv + 1, &a, reset);
    if (rc)
        return rc;
    if (reset && !a.table)
        return usage_error("%s", "offsets reset needs --table T");
    cdc_config_t *c = load_config(a.config);
    if (!c)
        return EXIT_CONFIG;
    char errstr[512];
    cdc_err_t err = reset
        ? cdc_offsets_cli_reset(c, a.table, a.to_timestamp, stdout, errstr, sizeof errstr)
        : cdc_offsets_cli_show(c, stdout, errstr, sizeof errstr);
    if (err != CDC_OK)
        fprintf(stderr, "dsqlcdc: %s\n", errstr);
    cdc_config_destroy(c);
    return err == CDC_OK ? EXIT_OK : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dsqlcdc %s\n", DSQLCDC_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "offsets") == 0)
        return cmd_offsets(argc - 1, argv + 1);
    if (strcmp(cmd, "config-reference") == 0) {
        cdc_config_write_reference(stdout);
        return EXIT_OK;
    }
    return usage_error("unknown command '%s'", cmd);
}
