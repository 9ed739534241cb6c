/*
 * credentials.c - the AWS default credential chain, cached and refreshed.
 *
 * Sources, in the order the AWS SDKs use: environment, web identity (env),
 * shared config/credentials profile (static keys, credential_process, role
 * assumption), container endpoint (ECS/EKS), EC2 IMDSv2. Each source says
 * either "here are credentials" or why it could not; the chain keeps those
 * reasons so a user who ends with none learns what to fix.
 */
#include "auth/credentials.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "auth/http.h"
#include "auth/ini.h"
#include "auth/sigv4.h"
#include "common/buf.h"
#include "common/log.h"

#define DEFAULT_REFRESH_MARGIN 300
#define DEFAULT_RETRY_SECS 10
#define DEFAULT_IMDS_MS 1000
#define DEFAULT_CONTAINER_MS 2000
#define DEFAULT_STS_MS 10000
#define DEFAULT_PROCESS_MS 60000
#define IMDS_DEFAULT_BASE "http://169.254.169.254"
#define IMDS_DEFAULT_BASE_V6 "http://[fd00:ec2::254]"
#define ECS_DEFAULT_BASE "http://169.254.170.2"
#define IMDS_TOKEN_TTL "21600"
#define PROCESS_MAX_OUTPUT (64 * 1024)
#define MAX_SOURCE_PROFILE_DEPTH 5
#define WHY_SIZE 1024

typedef enum {
    SRC_ENV,
    SRC_WEB_IDENTITY,
    SRC_PROFILE,
    SRC_CONTAINER,
    SRC_IMDS,
    SRC__COUNT
} cred_src_t;

struct cdc_cred_chain {
    char *profile; /* as given; NULL: AWS_PROFILE or "default" at use */
    cdc_aws_creds_t creds;
    bool have;
    cred_src_t src;
    int64_t refresh_at;
    cdc_cred_chain_opts_t opts;
    cdc_cred_clock_fn now_fn;
    void *now_ud;
    cdc_buf_t tried;
    char last_error[WHY_SIZE + 256];
};

typedef cdc_err_t (*source_fn)(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                               char *why, size_t why_size);

/* ---------------------------------------------------------------- helpers */

/* An environment variable, NULL when unset or empty (SDKs treat both alike). */
static const char *env_get(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool env_true(const char *name)
{
    const char *v = env_get(name);
    return v && strcasecmp(v, "true") == 0;
}

static int64_t chain_now(const cdc_cred_chain_t *ch)
{
    return ch->now_fn ? ch->now_fn(ch->now_ud) : (int64_t)time(NULL);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void cdc_aws_creds_clear(cdc_aws_creds_t *c)
{
    if (!c)
        return;
    free_secret(c->access_key_id);
    free_secret(c->secret_access_key);
    free_secret(c->session_token);
    c->access_key_id = NULL;
    c->secret_access_key = NULL;
    c->session_token = NULL;
    c->expires_at = 0;
    c->source[0] = '\0';
}

static cdc_err_t creds_set(cdc_aws_creds_t *c, const char *akid,
                           const char *secret, const char *token,
                           int64_t expires_at, char *why, size_t why_size)
{
    cdc_aws_creds_clear(c);
    c->access_key_id = strdup(akid);
    c->secret_access_key = strdup(secret);
    c->session_token = token && *token ? strdup(token) : NULL;
    c->expires_at = expires_at;
    if (!c->access_key_id || !c->secret_access_key ||
        (token && *token && !c->session_token)) {
        cdc_aws_creds_clear(c);
        return cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
    }
    return CDC_OK;
}

static void creds_source(cdc_aws_creds_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void creds_source(cdc_aws_creds_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->source, sizeof(c->source), fmt, ap);
    va_end(ap);
}

/* Replace every occurrence of secret in text by [REDACTED]: a last guard
 * for messages that quote a server or a tool, which we do not control. */
static void why_scrub(char *text, size_t size, const char *secret)
{
    static const char mask[] = "[REDACTED]";
    size_t slen, mlen = sizeof(mask) - 1;
    char *p;

    if (!text || !secret || (slen = strlen(secret)) < 4)
        return;
    for (p = strstr(text, secret); p; p = strstr(p + mlen, secret)) {
        size_t room = size - (size_t)(p - text) - 1; /* bytes after p */
        size_t tail = strlen(p + slen);
        if (mlen > room) {
            *p = '\0'; /* no space for the mask: cut the text here */
            return;
        }
        if (mlen + tail > room)
            tail = room - mlen;
        memmove(p + mlen, p + slen, tail);
        memcpy(p, mask, mlen);
        p[mlen + tail] = '\0';
    }
}

/* Same for a whole response body before any part of it is quoted, so a
 * length limit in a message cannot cut a secret in half and leak a prefix.
 * On allocation failure the body is emptied instead. */
static void buf_scrub(cdc_buf_t *b, const char *secret)
{
    cdc_buf_t out;
    const char *p, *hit;
    size_t slen;

    if (!b->data || !secret || (slen = strlen(secret)) < 4 ||
        !strstr(b->data, secret))
        return;
    cdc_buf_init(&out);
    for (p = b->data; (hit = strstr(p, secret)) != NULL; p = hit + slen) {
        if (cdc_buf_append(&out, p, (size_t)(hit - p)) != CDC_OK ||
            cdc_buf_puts(&out, "[REDACTED]") != CDC_OK)
            goto fail;
    }
    if (cdc_buf_puts(&out, p) != CDC_OK)
        goto fail;
    cdc_buf_wipe(b);
    *b = out;
    return;
fail:
    cdc_buf_wipe(&out);
    cdc_buf_wipe(b);
}

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; -1 when malformed. */
static int64_t parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    struct tm tm;
    int64_t t;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                     &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    s += n;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s))
            s++;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = (int64_t)timegm(&tm);
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om, m = 0;
        int sign = *s == '+' ? 1 : -1;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
            return -1;
        t -= sign * (oh * 3600 + om * 60);
        s += 6;
    } else {
        return -1;
    }
    return *s ? -1 : t;
}

static void fmt_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Read a small file whole (tokens). Trailing whitespace is dropped. The
 * caller frees (free_secret). */
static cdc_err_t read_small_file(const char *path, const char *what,
                                 char **out, char *why, size_t why_size)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    *out = NULL;
    if (!f)
        return cdc_err_set(why, why_size, CDC_ERR_IO, "cannot read %s %s: %s",
                           what, path, strerror(errno));
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= 1024 * 1024) {
                fclose(f);
                free_secret(buf);
                return cdc_err_set(why, why_size, CDC_ERR_PARSE,
                                   "%s %s is larger than 1 MiB", what, path);
            }
            char *nb = realloc(buf, cap + 8192);
            if (!nb) {
                fclose(f);
                free_secret(buf);
                return cdc_err_set(why, why_size, CDC_ERR_NOMEM,
                                   "out of memory");
            }
            buf = nb;
            cap += 8192;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    while (len && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    if (len == 0) {
        free(buf);
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG, "%s %s is empty",
                           what, path);
    }
    *out = buf;
    return CDC_OK;
}

static const char *home_dir(void)
{
    const char *h = env_get("HOME");
    if (!h) {
        struct passwd *pw = getpwuid(getuid());
        h = pw && pw->pw_dir ? pw->pw_dir : "/";
    }
    return h;
}

/* An AWS file path from env var or the default under ~/.aws; "~/" expanded. */
static void aws_file_path(const char *env_name, const char *default_name,
                          char *out, size_t out_size)
{
    const char *p = env_get(env_name);

    if (!p)
        snprintf(out, out_size, "%s/.aws/%s", home_dir(), default_name);
    else if (p[0] == '~' && p[1] == '/')
        snprintf(out, out_size, "%s%s", home_dir(), p + 1);
    else
        snprintf(out, out_size, "%s", p);
}

static const char *profile_name(const cdc_cred_chain_t *ch)
{
    const char *p = ch && ch->profile ? ch->profile : env_get("AWS_PROFILE");
    return p ? p : "default";
}

/* Form-urlencode s onto b (RFC 3986 unreserved kept). */
static cdc_err_t form_put(cdc_buf_t *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    cdc_err_t err = CDC_OK;

    if (b->len)
        err = cdc_buf_putc(b, '&');
    if (!err)
        err = cdc_buf_puts(b, name);
    if (!err)
        err = cdc_buf_putc(b, '=');
    for (const unsigned char *p = (const unsigned char *)value; !err && *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            err = cdc_buf_putc(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            err = cdc_buf_append(b, e, 3);
        }
    }
    return err;
}

/* ------------------------------------------------------------ shared files */

typedef struct {
    cdc_ini_t *cred;
    cdc_ini_t *conf;
    char cred_path[PATH_MAX];
    char conf_path[PATH_MAX];
    bool cred_missing;
    bool conf_missing;
} prof_files_t;

static void prof_files_free(prof_files_t *pf)
{
    cdc_ini_destroy(pf->cred);
    cdc_ini_destroy(pf->conf);
    pf->cred = pf->conf = NULL;
}

static cdc_err_t prof_files_load(prof_files_t *pf, bool want_credentials,
                                 char *why, size_t why_size)
{
    cdc_err_t err;

    memset(pf, 0, sizeof(*pf));
    aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", pf->cred_path,
                  sizeof(pf->cred_path));
    aws_file_path("AWS_CONFIG_FILE", "config", pf->conf_path,
                  sizeof(pf->conf_path));

    if (want_credentials) {
        err = cdc_ini_load(pf->cred_path, &pf->cred, why, why_size);
        if (err == CDC_ERR_NOT_FOUND)
            pf->cred_missing = true;
        else if (err != CDC_OK)
            return err;
    } else {
        pf->cred_missing = true;
    }
    err = cdc_ini_load(pf->conf_path, &pf->conf, why, why_size);
    if (err == CDC_ERR_NOT_FOUND) {
        pf->conf_missing = true;
    } else if (err != CDC_OK) {
        prof_files_free(pf);
        return err;
    }
    return CDC_OK;
}

/* In the config file a profile is "[profile name]"; "default" may also be
 * plain "[default]". The credentials file uses "[name]". */
static const char *conf_get(const prof_files_t *pf, const char *profile,
                            const char *key)
{
    char sec[512];
    const char *v;

    snprintf(sec, sizeof(sec), "profile %s", profile);
    v = cdc_ini_get(pf->conf, sec, key);
    if (!v && strcmp(profile, "default") == 0)
        v = cdc_ini_get(pf->conf, "default", key);
    return v && *v ? v : NULL;
}

static bool conf_has(const prof_files_t *pf, const char *profile)
{
    char sec[512];

    snprintf(sec, sizeof(sec), "profile %s", profile);
    return cdc_ini_has_section(pf->conf, sec) ||
           (strcmp(profile, "default") == 0 &&
            cdc_ini_has_section(pf->conf, "default"));
}

/* A profile setting: the credentials file wins over the config file. */
static const char *prof_get(const prof_files_t *pf, const char *profile,
                            const char *key)
{
    const char *v = cdc_ini_get(pf->cred, profile, key);
    return v && *v ? v : conf_get(pf, profile, key);
}

static bool prof_exists(const prof_files_t *pf, const char *profile)
{
    return cdc_ini_has_section(pf->cred, profile) || conf_has(pf, profile);
}

static cdc_err_t prof_not_found(const prof_files_t *pf, const char *profile,
                                char *why, size_t why_size)
{
    return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                       "profile \"%s\": not found in %s%s or %s%s", profile,
                       pf->cred_path, pf->cred_missing ? " (no such file)" : "",
                       pf->conf_path, pf->conf_missing ? " (no such file)" : "");
}

/* -------------------------------------------------------------------- STS */

/* Text of the first <tag>...</tag> inside [from, to), XML entities decoded;
 * NULL when absent. Caller frees. STS answers are flat, namespace-free
 * elements, so no general XML parser is needed. */
static char *xml_text(const char *from, const char *to, const char *tag)
{
    char open[64], close[64];
    const char *a, *b;
    char *out, *o;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    a = strstr(from, open);
    if (!a || a >= to)
        return NULL;
    a += strlen(open);
    b = strstr(a, close);
    if (!b || b > to)
        return NULL;
    out = malloc((size_t)(b - a) + 1);
    if (!out)
        return NULL;
    for (o = out; a < b;) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                    {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        if (*a == '&') {
            for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
                size_t l = strlen(ents[i].ent);
                if ((size_t)(b - a) >= l && strncmp(a, ents[i].ent, l) == 0) {
                    *o++ = ents[i].c;
                    a += l;
                    done = true;
                    break;
                }
            }
        }
        if (!done)
            *o++ = *a++;
    }
    *o = '\0';
    return out;
}

/* The region whose STS endpoint to use, or NULL for the global endpoint. */
static const char *sts_region(const char *profile, char *buf, size_t size)
{
    if (cdc_aws_region_resolve(NULL, profile, buf, size, NULL, 0) == CDC_OK)
        return buf;
    return NULL;
}

static void sts_endpoint(const char *region, char *out, size_t out_size)
{
    const char *e = NULL;

    if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
        e = env_get("AWS_ENDPOINT_URL_STS");
        if (!e)
            e = env_get("AWS_ENDPOINT_URL");
    }
    if (e)
        snprintf(out, out_size, "%s", e);
    else if (!region)
        snprintf(out, out_size, "https://sts.amazonaws.com");
    else if (strncmp(region, "cn-", 3) == 0)
        snprintf(out, out_size, "https://sts.%s.amazonaws.com.cn", region);
    else
        snprintf(out, out_size, "https://sts.%s.amazonaws.com", region);
}

/* Host header value and path of url, as curl will send them. */
static cdc_err_t url_host_path(const char *url, char *host, size_t host_size,
                               char *path, size_t path_size)
{
    CURLU *u = curl_url();
    char *h = NULL, *port = NULL, *p = NULL;
    cdc_err_t err = CDC_ERR_CONFIG;

    if (!u)
        return CDC_ERR_NOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
            snprintf(host, host_size, "%s:%s", h, port);
        else
            snprintf(host, host_size, "%s", h);
        snprintf(path, path_size, "%s", p && *p ? p : "/");
        err = CDC_OK;
    }
    curl_free(h);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    return err;
}

/*
 * POST one STS action (form body from body) and parse the <Credentials> of
 * the answer. signer NULL: unsigned (AssumeRoleWithWebIdentity); else SigV4
 * with those credentials. region NULL: global endpoint, signed for
 * us-east-1.
 */
static cdc_err_t sts_call(cdc_cred_chain_t *ch, const char *action,
                          const cdc_buf_t *body,
                          const cdc_aws_creds_t *signer, const char *region,
                          const char *body_secret,
                          cdc_aws_creds_t *out, char *why, size_t why_size)
{
    char endpoint[512], host[300], path[512];
    char host_hdr[320], date_hdr[64];
    char amz_date[17];
    cdc_buf_t auth, auth_hdr, tok_hdr;
    const char *headers[6];
    size_t nh = 0;
    cdc_http_resp_t resp;
    cdc_err_t err;
    char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL;
    char *code = NULL, *msg = NULL;
    static const char ctype[] =
        "application/x-www-form-urlencoded; charset=utf-8";

    cdc_buf_init(&auth);
    cdc_buf_init(&auth_hdr);
    cdc_buf_init(&tok_hdr);
    cdc_http_resp_init(&resp);

    sts_endpoint(region, endpoint, sizeof(endpoint));
    if (url_host_path(endpoint, host, sizeof(host), path, sizeof(path)) !=
        CDC_OK) {
        err = cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                          "STS endpoint \"%s\" is not a valid URL (check "
                          "AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL)", endpoint);
        goto out;
    }
    snprintf(host_hdr, sizeof(host_hdr), "Host: %s", host);
    headers[nh++] = host_hdr;
    headers[nh++] = "Content-Type: application/x-www-form-urlencoded; "
                    "charset=utf-8";
    headers[nh++] = "Accept: text/xml";

    if (signer) {
        cdc_sigv4_pair_t sh[] = {{"host", host}, {"content-type", ctype}};
        cdc_sigv4_params_t sp = {
            .access_key_id = signer->access_key_id,
            .secret_access_key = signer->secret_access_key,
            .session_token = signer->session_token,
            .region = region ? region : "us-east-1",
            .service = "sts",
            .signing_time = (time_t)chain_now(ch),
        };
        err = cdc_sigv4_sign_headers(&sp, "POST", path, "", sh, 2, body->data,
                                     body->len, amz_date, &auth, NULL, why,
                                     why_size);
        if (err != CDC_OK)
            goto out;
        snprintf(date_hdr, sizeof(date_hdr), "X-Amz-Date: %s", amz_date);
        headers[nh++] = date_hdr;
        if (signer->session_token) {
            if ((err = cdc_buf_printf(&tok_hdr, "X-Amz-Security-Token: %s",
                                      signer->session_token)) != CDC_OK)
                goto nomem;
            headers[nh++] = tok_hdr.data;
        }
        if ((err = cdc_buf_puts(&auth_hdr, "Authorization: ")) != CDC_OK ||
            (err = cdc_buf_puts(&auth_hdr, cdc_buf_str(&auth))) != CDC_OK)
            goto nomem;
        headers[nh++] = auth_hdr.data;
    }

    cdc_http_req_t req = {
        .method = "POST",
        .url = endpoint,
        .headers = headers,
        .nheaders = nh,
        .body = body->data ? body->data : "",
        .body_len = body->len,
        .timeout_ms = ch->opts.sts_timeout_ms,
        .ca_file = env_get("AWS_CA_BUNDLE"),
    };
    char terr[512];
    err = cdc_http_perform(&req, &resp, terr, sizeof(terr));
    if (err != CDC_OK) {
        err = cdc_err_set(why, why_size, err, "STS %s at %s: %s", action,
                          endpoint, terr);
        goto out;
    }

    if (resp.status != 200) {
        buf_scrub(&resp.body, body_secret);
        if (signer) {
            buf_scrub(&resp.body, signer->secret_access_key);
            buf_scrub(&resp.body, signer->session_token);
        }
    }
    const char *doc = cdc_buf_str(&resp.body);
    const char *end = doc + resp.body.len;
    if (resp.status != 200) {
        code = xml_text(doc, end, "Code");
        msg = xml_text(doc, end, "Message");
        err = cdc_err_set(why, why_size,
                          resp.status == 403 || resp.status == 400
                              ? CDC_ERR_AUTH : CDC_ERR_HTTP,
                          "STS %s at %s: HTTP %ld%s%s%s%.300s", action,
                          endpoint, resp.status, code ? " " : "",
                          code ? code : "", msg ? ": " : "", msg ? msg : "");
        goto out;
    }
    const char *cs = strstr(doc, "<Credentials>");
    const char *ce = cs ? strstr(cs, "</Credentials>") : NULL;
    if (!cs || !ce) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "STS %s at %s: response has no <Credentials> "
                          "element", action, endpoint);
        goto out;
    }
    akid = xml_text(cs, ce, "AccessKeyId");
    secret = xml_text(cs, ce, "SecretAccessKey");
    token = xml_text(cs, ce, "SessionToken");
    exp = xml_text(cs, ce, "Expiration");
    const char *missing = !akid ? "AccessKeyId" : !secret ? "SecretAccessKey"
                        : !token ? "SessionToken" : !exp ? "Expiration" : NULL;
    if (missing) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "STS %s at %s: response has no <%s>", action,
                          endpoint, missing);
        goto out;
    }
    int64_t expires = parse_iso8601(exp);
    if (expires < 0) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "STS %s at %s: <Expiration> \"%.40s\" is not an "
                          "ISO 8601 time", action, endpoint, exp);
        goto out;
    }
    err = creds_set(out, akid, secret, token, expires, why, why_size);
    goto out;

nomem:
    err = cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
out:
    if (err != CDC_OK) {
        why_scrub(why, why_size, body_secret);
        if (signer) {
            why_scrub(why, why_size, signer->secret_access_key);
            why_scrub(why, why_size, signer->session_token);
        }
    }
    free_secret(akid);
    free_secret(secret);
    free_secret(token);
    free(exp);
    free(code);
    free(msg);
    cdc_buf_wipe(&auth);
    cdc_buf_wipe(&auth_hdr);
    cdc_buf_wipe(&tok_hdr);
    cdc_http_resp_clear(&resp);
    return err;
}

static void default_session_name(cdc_cred_chain_t *ch, char *out, size_t size)
{
    snprintf(out, size, "dsqlcdc-%lld", (long long)chain_now(ch));
}

static cdc_err_t assume_role_web_identity(cdc_cred_chain_t *ch,
                                          const char *role_arn,
                                          const char *session_name,
                                          const char *token_file,
                                          const char *region,
                                          cdc_aws_creds_t *out,
                                          char *why, size_t why_size)
{
    char *token = NULL;
    char sname[64];
    cdc_buf_t body;
    cdc_err_t err;

    err = read_small_file(token_file, "web identity token file", &token, why,
                          why_size);
    if (err != CDC_OK)
        return err;
    if (!session_name) {
        default_session_name(ch, sname, sizeof(sname));
        session_name = sname;
    }
    cdc_buf_init(&body);
    if (form_put(&body, "Action", "AssumeRoleWithWebIdentity") ||
        form_put(&body, "Version", "2011-06-15") ||
        form_put(&body, "RoleArn", role_arn) ||
        form_put(&body, "RoleSessionName", session_name) ||
        form_put(&body, "WebIdentityToken", token)) {
        err = cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
    } else {
        err = sts_call(ch, "AssumeRoleWithWebIdentity", &body, NULL, region,
                       token, out, why, why_size);
    }
    free_secret(token);
    cdc_buf_wipe(&body);
    return err;
}

/* ---------------------------------------------------------------- sources */

static cdc_err_t src_env(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                         char *why, size_t why_size)
{
    const char *akid = env_get("AWS_ACCESS_KEY_ID");
    const char *secret = env_get("AWS_SECRET_ACCESS_KEY");
    const char *exp = env_get("AWS_CREDENTIAL_EXPIRATION");
    int64_t expires = 0;
    cdc_err_t err;

    if (!akid && !secret)
        return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                           "AWS_ACCESS_KEY_ID not set");
    if (!secret)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
                           "is not");
    if (!akid)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID "
                           "is not");
    if (exp && (expires = parse_iso8601(exp)) < 0)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "AWS_CREDENTIAL_EXPIRATION \"%.40s\" is not an ISO "
                           "8601 time (like 2030-01-31T12:00:00Z)", exp);
    err = creds_set(out, akid, secret, env_get("AWS_SESSION_TOKEN"), expires,
                    why, why_size);
    if (err == CDC_OK)
        creds_source(out, "environment");
    return err;
}

static cdc_err_t src_web_identity(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                                  char *why, size_t why_size)
{
    const char *file = env_get("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = env_get("AWS_ROLE_ARN");
    char rbuf[64];
    cdc_err_t err;

    if (!file)
        return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                           "AWS_WEB_IDENTITY_TOKEN_FILE not set");
    if (!role)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "AWS_WEB_IDENTITY_TOKEN_FILE is set but "
                           "AWS_ROLE_ARN is not");
    err = assume_role_web_identity(ch, role, env_get("AWS_ROLE_SESSION_NAME"),
                                   file,
                                   sts_region(profile_name(ch), rbuf,
                                              sizeof(rbuf)),
                                   out, why, why_size);
    if (err == CDC_OK)
        creds_source(out, "web identity");
    return err;
}

/* ------------------------------------------------------ container and IMDS */

/* Parse the JSON both the container endpoint and IMDS return. */
static cdc_err_t parse_json_creds(const char *what, const char *text,
                                  size_t len, cdc_aws_creds_t *out,
                                  char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    const char *keys[] = {"AccessKeyId", "SecretAccessKey", "Token",
                          "Expiration"};
    const char *vals[4];
    cdc_err_t err;

    if (!root || !json_is_object(root)) {
        json_decref(root);
        return cdc_err_set(why, why_size, CDC_ERR_PARSE,
                           "%s: response is not a JSON object", what);
    }
    const char *code = json_string_value(json_object_get(root, "Code"));
    if (code && strcmp(code, "Success") != 0) {
        const char *m = json_string_value(json_object_get(root, "Message"));
        err = cdc_err_set(why, why_size, CDC_ERR_AUTH, "%s: Code %.60s%s%.200s",
                          what, code, m ? ": " : "", m ? m : "");
        json_decref(root);
        return err;
    }
    for (size_t i = 0; i < 4; i++) {
        vals[i] = json_string_value(json_object_get(root, keys[i]));
        if (!vals[i] || !*vals[i]) {
            json_decref(root);
            return cdc_err_set(why, why_size, CDC_ERR_PARSE,
                               "%s: response has no \"%s\" string", what,
                               keys[i]);
        }
    }
    int64_t expires = parse_iso8601(vals[3]);
    if (expires < 0) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "%s: Expiration \"%.40s\" is not an ISO 8601 time",
                          what, vals[3]);
    } else {
        err = creds_set(out, vals[0], vals[1], vals[2], expires, why,
                        why_size);
    }
    json_decref(root);
    return err;
}

/* Full-URI endpoints must not send the task's credentials off the host
 * unencrypted: https, loopback, or the ECS / EKS Pod Identity agents. */
static bool container_uri_allowed(const char *url)
{
    static const char *const hosts[] = {
        "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "localhost",
        "[::1]",
    };
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (strcasecmp(scheme, "https") == 0)
            ok = true;
        else if (strcasecmp(scheme, "http") == 0) {
            ok = strncmp(host, "127.", 4) == 0;
            for (size_t i = 0; !ok && i < sizeof(hosts) / sizeof(hosts[0]); i++)
                ok = strcasecmp(host, hosts[i]) == 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static cdc_err_t src_container(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                               char *why, size_t why_size)
{
    const char *rel = env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tfile = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    char url[1024], what[1100], terr[512];
    char *token = NULL;
    cdc_buf_t auth;
    const char *headers[2];
    size_t nh = 0;
    cdc_http_resp_t resp;
    cdc_err_t err;

    if (rel)
        snprintf(url, sizeof(url), "%s%s%s", ECS_DEFAULT_BASE,
                 rel[0] == '/' ? "" : "/", rel);
    else if (full)
        snprintf(url, sizeof(url), "%s", full);
    else
        return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                           "not configured (AWS_CONTAINER_CREDENTIALS_"
                           "RELATIVE_URI and _FULL_URI not set)");
    if (!rel && !container_uri_allowed(url))
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%s\" must use "
                           "https or a loopback, ECS (169.254.170.2) or EKS "
                           "(169.254.170.23) address", url);
    snprintf(what, sizeof(what), "GET %s", url);

    if (tfile) {
        err = read_small_file(tfile, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                              &token, why, why_size);
        if (err != CDC_OK)
            return err;
    } else if (env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        token = strdup(env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
        if (!token)
            return cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
    }
    if (token && strpbrk(token, "\r\n")) {
        free_secret(token);
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "the container authorization token contains a line "
                           "break");
    }

    cdc_buf_init(&auth);
    cdc_http_resp_init(&resp);
    headers[nh++] = "Accept: application/json";
    if (token) {
        if (cdc_buf_printf(&auth, "Authorization: %s", token) != CDC_OK) {
            err = cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
            goto out;
        }
        headers[nh++] = auth.data;
    }
    cdc_http_req_t req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .nheaders = nh,
        .timeout_ms = ch->opts.container_timeout_ms,
        .ca_file = env_get("AWS_CA_BUNDLE"),
    };
    err = cdc_http_perform(&req, &resp, terr, sizeof(terr));
    if (err != CDC_OK) {
        err = cdc_err_set(why, why_size, err, "%s", terr);
        goto out;
    }
    if (resp.status != 200) {
        buf_scrub(&resp.body, token);
        /* Agents answer errors as {"code": ..., "message": ...}. */
        json_t *root = json_loadb(cdc_buf_str(&resp.body), resp.body.len, 0,
                                  NULL);
        const char *c = json_string_value(json_object_get(root, "code"));
        const char *m = json_string_value(json_object_get(root, "message"));
        err = cdc_err_set(why, why_size,
                          resp.status == 401 || resp.status == 403
                              ? CDC_ERR_AUTH : CDC_ERR_HTTP,
                          "%s: HTTP %ld%s%.60s%s%.200s", what, resp.status,
                          c ? " " : "", c ? c : "", m ? ": " : "",
                          m ? m : "");
        json_decref(root);
        goto out;
    }
    err = parse_json_creds(what, cdc_buf_str(&resp.body), resp.body.len, out,
                           why, why_size);
    if (err == CDC_OK)
        creds_source(out, "container");

out:
    why_scrub(why, why_size, token);
    free_secret(token);
    cdc_buf_wipe(&auth);
    cdc_http_resp_clear(&resp);
    return err;
}

static cdc_err_t imds_request(cdc_cred_chain_t *ch, const char *method,
                              const char *url, const char *const *headers,
                              size_t nh, cdc_http_resp_t *resp,
                              char *why, size_t why_size)
{
    cdc_http_req_t req = {
        .method = method,
        .url = url,
        .headers = headers,
        .nheaders = nh,
        .connect_timeout_ms = ch->opts.imds_timeout_ms,
        .timeout_ms = ch->opts.imds_timeout_ms,
        .max_response = 64 * 1024,
    };
    return cdc_http_perform(&req, resp, why, why_size);
}

static cdc_err_t src_imds(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                          char *why, size_t why_size)
{
    const char *base_env = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    char base[512], url[1024], tok_hdr[256] = "", what[1100];
    const char *headers[1];
    size_t nh = 0, blen;
    char *role = NULL;
    cdc_http_resp_t resp;
    cdc_err_t err;
    static const char creds_path[] = "/latest/meta-data/iam/security-credentials/";

    if (env_true("AWS_EC2_METADATA_DISABLED"))
        return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                           "disabled by AWS_EC2_METADATA_DISABLED");
    if (base_env)
        snprintf(base, sizeof(base), "%s", base_env);
    else if (mode && strcasecmp(mode, "IPv6") == 0)
        snprintf(base, sizeof(base), "%s", IMDS_DEFAULT_BASE_V6);
    else
        snprintf(base, sizeof(base), "%s", IMDS_DEFAULT_BASE);
    blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        base[--blen] = '\0';

    cdc_http_resp_init(&resp);

    /* IMDSv2 session token; 403/404/405 mean v2 is unavailable and the
     * SDKs fall back to v1 unless told not to. */
    const char *ttl_hdr[] = {"X-aws-ec2-metadata-token-ttl-seconds: "
                             IMDS_TOKEN_TTL};
    snprintf(url, sizeof(url), "%s/latest/api/token", base);
    err = imds_request(ch, "PUT", url, ttl_hdr, 1, &resp, why, why_size);
    if (err != CDC_OK)
        goto out;
    if (resp.status == 200 && resp.body.len > 0 && resp.body.len < 200 &&
        !strpbrk(cdc_buf_str(&resp.body), "\r\n")) {
        snprintf(tok_hdr, sizeof(tok_hdr), "X-aws-ec2-metadata-token: %s",
                 cdc_buf_str(&resp.body));
        headers[nh++] = tok_hdr;
    } else if (resp.status == 403 || resp.status == 404 || resp.status == 405) {
        if (env_true("AWS_EC2_METADATA_V1_DISABLED")) {
            err = cdc_err_set(why, why_size, CDC_ERR_HTTP,
                              "PUT %s: HTTP %ld and IMDSv1 is disabled by "
                              "AWS_EC2_METADATA_V1_DISABLED", url, resp.status);
            goto out;
        }
    } else {
        err = cdc_err_set(why, why_size, CDC_ERR_HTTP,
                          "PUT %s: HTTP %ld%s", url, resp.status,
                          resp.status == 200 ? " with an unusable token" : "");
        goto out;
    }

    snprintf(url, sizeof(url), "%s%s", base, creds_path);
    err = imds_request(ch, "GET", url, headers, nh, &resp, why, why_size);
    if (err != CDC_OK)
        goto out;
    if (resp.status == 404) {
        err = cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                          "no IAM role attached to this instance (GET %s: "
                          "HTTP 404)", url);
        goto out;
    }
    if (resp.status != 200) {
        err = cdc_err_set(why, why_size, CDC_ERR_HTTP, "GET %s: HTTP %ld", url,
                          resp.status);
        goto out;
    }
    {
        const char *b = cdc_buf_str(&resp.body);
        size_t rl = strcspn(b, "\r\n");
        while (rl && isspace((unsigned char)b[rl - 1]))
            rl--;
        role = strndup(b, rl);
    }
    if (!role || !*role || strpbrk(role, "/?#% ")) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "GET %s: no usable role name in the answer", url);
        goto out;
    }

    snprintf(url, sizeof(url), "%s%s%s", base, creds_path, role);
    err = imds_request(ch, "GET", url, headers, nh, &resp, why, why_size);
    if (err != CDC_OK)
        goto out;
    if (resp.status != 200) {
        err = cdc_err_set(why, why_size, CDC_ERR_HTTP, "GET %s: HTTP %ld", url,
                          resp.status);
        goto out;
    }
    snprintf(what, sizeof(what), "GET %s", url);
    err = parse_json_creds(what, cdc_buf_str(&resp.body), resp.body.len, out,
                           why, why_size);
    if (err == CDC_OK)
        creds_source(out, "IMDS");

out:
    free(role);
    explicit_bzero(tok_hdr, sizeof(tok_hdr));
    cdc_http_resp_clear(&resp);
    return err;
}

/* ------------------------------------------------------ credential_process */

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)((now.tv_sec - t0->tv_sec) * 1000 +
                  (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Run cmd with /bin/sh, collecting stdout (capped) and stderr's first line.
 * On timeout the whole process group is killed. *status: wait status. */
static cdc_err_t run_process(const char *cmd, long timeout_ms, cdc_buf_t *out,
                             char *errline, size_t errline_size, int *status,
                             char *why, size_t why_size)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    pid_t pid = -1;
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    struct timespec t0;
    cdc_buf_t errbuf;
    cdc_err_t err = CDC_OK;
    char tbuf[32];
    bool reaped = false;
    int rc;

    cdc_buf_init(&errbuf);
    errline[0] = '\0';
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        err = cdc_err_set(why, why_size, CDC_ERR_IO, "pipe: %s",
                          strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                        POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (rc != 0) {
        pid = -1;
        err = cdc_err_set(why, why_size, CDC_ERR_IO, "cannot run /bin/sh: %s",
                          strerror(rc));
        goto out;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        long left = timeout_ms - ms_since(&t0);
        char chunk[4096];

        if (left <= 0) {
            err = CDC_ERR_TIMEOUT;
            goto out;
        }
        rc = poll(pfd, 2, (int)left);
        if (rc < 0 && errno != EINTR) {
            err = cdc_err_set(why, why_size, CDC_ERR_IO, "poll: %s",
                              strerror(errno));
            goto out;
        }
        for (int i = 0; rc > 0 && i < 2; i++) {
            int *fd = i == 0 ? &outp[0] : &errp[0];
            if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(*fd, chunk, sizeof(chunk));
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                close(*fd);
                *fd = -1;
                continue;
            }
            cdc_buf_t *dst = i == 0 ? out : &errbuf;
            size_t cap = i == 0 ? PROCESS_MAX_OUTPUT : 4096;
            if (dst->len + (size_t)n > cap) {
                if (i == 0) {
                    err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                                      "credential_process wrote more than "
                                      "%d bytes", PROCESS_MAX_OUTPUT);
                    goto out;
                }
                continue; /* keep draining stderr, keep its start */
            }
            if (cdc_buf_append(dst, chunk, (size_t)n) != CDC_OK) {
                err = cdc_err_set(why, why_size, CDC_ERR_NOMEM,
                                  "out of memory");
                goto out;
            }
        }
        explicit_bzero(chunk, sizeof(chunk));
    }
    /* Output is closed; the shell normally exits at once. */
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            if (w < 0)
                *status = 0;
            reaped = true;
            break;
        }
        long left = timeout_ms - ms_since(&t0);
        if (left <= 0) {
            err = CDC_ERR_TIMEOUT;
            goto out;
        }
        poll(NULL, 0, left < 10 ? (int)left : 10);
    }

out:
    if (err == CDC_ERR_TIMEOUT) {
        cdc_http_fmt_ms(timeout_ms, tbuf, sizeof(tbuf));
        cdc_err_set(why, why_size, CDC_ERR_TIMEOUT,
                    "did not finish within %s (killed)", tbuf);
    }
    if (pid > 0 && !reaped) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
            ;
    }
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    {
        const char *e = cdc_buf_str(&errbuf);
        size_t l = strcspn(e, "\r\n");
        snprintf(errline, errline_size, "%.*s", (int)l, e);
    }
    cdc_buf_wipe(&errbuf);
    return err;
}

static cdc_err_t credential_process(cdc_cred_chain_t *ch, const char *cmd,
                                    cdc_aws_creds_t *out,
                                    char *why, size_t why_size)
{
    cdc_buf_t stdout_buf;
    char errline[300], pwhy[512];
    int status = 0;
    json_t *root = NULL;
    cdc_err_t err;
    char shown[80];

    snprintf(shown, sizeof(shown), "%s", cmd);
    if (strlen(cmd) >= sizeof(shown))
        memcpy(shown + sizeof(shown) - 4, "...", 4);

    cdc_buf_init(&stdout_buf);
    err = run_process(cmd, ch->opts.process_timeout_ms, &stdout_buf, errline,
                      sizeof(errline), &status, pwhy, sizeof(pwhy));
    if (err != CDC_OK) {
        err = cdc_err_set(why, why_size, err, "credential_process \"%s\": %s",
                          shown, pwhy);
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char st[48];
        if (WIFEXITED(status))
            snprintf(st, sizeof(st), "exited with status %d",
                     WEXITSTATUS(status));
        else
            snprintf(st, sizeof(st), "killed by signal %d",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        err = cdc_err_set(why, why_size, CDC_ERR_AUTH,
                          "credential_process \"%s\" %s%s%s", shown, st,
                          errline[0] ? ": " : "", errline);
        goto out;
    }

    json_error_t jerr;
    root = json_loadb(cdc_buf_str(&stdout_buf), stdout_buf.len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "credential_process \"%s\": output is not a JSON "
                          "object", shown);
        goto out;
    }
    json_t *ver = json_object_get(root, "Version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "credential_process \"%s\": output needs "
                          "\"Version\": 1", shown);
        goto out;
    }
    const char *akid = json_string_value(json_object_get(root, "AccessKeyId"));
    const char *secret =
        json_string_value(json_object_get(root, "SecretAccessKey"));
    json_t *tok = json_object_get(root, "SessionToken");
    json_t *exp = json_object_get(root, "Expiration");
    if (!akid || !*akid || !secret || !*secret) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "credential_process \"%s\": output has no \"%s\" "
                          "string", shown,
                          !akid || !*akid ? "AccessKeyId" : "SecretAccessKey");
        goto out;
    }
    if ((tok && !json_is_null(tok) && !json_is_string(tok)) ||
        (exp && !json_is_null(exp) && !json_is_string(exp))) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "credential_process \"%s\": SessionToken and "
                          "Expiration must be strings", shown);
        goto out;
    }
    int64_t expires = 0;
    if (json_is_string(exp) &&
        (expires = parse_iso8601(json_string_value(exp))) < 0) {
        err = cdc_err_set(why, why_size, CDC_ERR_PARSE,
                          "credential_process \"%s\": Expiration \"%.40s\" is "
                          "not an ISO 8601 time", shown,
                          json_string_value(exp));
        goto out;
    }
    err = creds_set(out, akid, secret, json_string_value(tok), expires, why,
                    why_size);

out:
    json_decref(root);
    cdc_buf_wipe(&stdout_buf);
    return err;
}

/* --------------------------------------------------------------- profiles */

static cdc_err_t resolve_profile(cdc_cred_chain_t *ch, const prof_files_t *pf,
                                 const char *name, int depth,
                                 cdc_aws_creds_t *out, char *why,
                                 size_t why_size);

static cdc_err_t profile_static_keys(const prof_files_t *pf, const char *name,
                                     cdc_aws_creds_t *out, char *why,
                                     size_t why_size)
{
    const char *akid = prof_get(pf, name, "aws_access_key_id");
    const char *secret = prof_get(pf, name, "aws_secret_access_key");

    if (!akid)
        return cdc_err_set(why, why_size, CDC_ERR_NOT_FOUND,
                           "profile \"%s\" has no aws_access_key_id", name);
    if (!secret)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\" has aws_access_key_id but no "
                           "aws_secret_access_key", name);
    cdc_err_t err = creds_set(out, akid, secret,
                              prof_get(pf, name, "aws_session_token"), 0, why,
                              why_size);
    if (err == CDC_OK)
        creds_source(out, "profile %s", name);
    return err;
}

static cdc_err_t assume_role(cdc_cred_chain_t *ch, const prof_files_t *pf,
                             const char *name, const char *role_arn,
                             const cdc_aws_creds_t *source,
                             cdc_aws_creds_t *out, char *why, size_t why_size)
{
    const char *ext = prof_get(pf, name, "external_id");
    const char *dur = prof_get(pf, name, "duration_seconds");
    const char *sname = prof_get(pf, name, "role_session_name");
    char sbuf[64], rbuf[64];
    cdc_buf_t body;
    cdc_err_t err;

    if (dur && strspn(dur, "0123456789") != strlen(dur))
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\": duration_seconds \"%.20s\" is not "
                           "a number of seconds", name, dur);
    if (!sname) {
        default_session_name(ch, sbuf, sizeof(sbuf));
        sname = sbuf;
    }
    cdc_buf_init(&body);
    if (form_put(&body, "Action", "AssumeRole") ||
        form_put(&body, "Version", "2011-06-15") ||
        form_put(&body, "RoleArn", role_arn) ||
        form_put(&body, "RoleSessionName", sname) ||
        (ext && form_put(&body, "ExternalId", ext)) ||
        (dur && form_put(&body, "DurationSeconds", dur))) {
        err = cdc_err_set(why, why_size, CDC_ERR_NOMEM, "out of memory");
    } else {
        err = sts_call(ch, "AssumeRole", &body, source,
                       sts_region(name, rbuf, sizeof(rbuf)), NULL, out, why,
                       why_size);
    }
    cdc_buf_wipe(&body);
    return err;
}

static cdc_err_t profile_role(cdc_cred_chain_t *ch, const prof_files_t *pf,
                              const char *name, const char *role_arn,
                              int depth, cdc_aws_creds_t *out, char *why,
                              size_t why_size)
{
    const char *wit = prof_get(pf, name, "web_identity_token_file");
    const char *srcp = prof_get(pf, name, "source_profile");
    const char *csrc = prof_get(pf, name, "credential_source");
    cdc_aws_creds_t source = {0};
    char swhy[WHY_SIZE], rbuf[64];
    cdc_err_t err;

    if (prof_get(pf, name, "mfa_serial"))
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\" needs an MFA code (mfa_serial), "
                           "which a daemon cannot prompt for; use a profile "
                           "without mfa_serial", name);
    if (wit) {
        err = assume_role_web_identity(ch, role_arn,
                                       prof_get(pf, name, "role_session_name"),
                                       wit, sts_region(name, rbuf, sizeof(rbuf)),
                                       out, why, why_size);
        if (err == CDC_OK)
            creds_source(out, "profile %s web identity", name);
        return err;
    }
    if (srcp && csrc)
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\" sets both source_profile and "
                           "credential_source; keep one", name);
    if (srcp) {
        if (depth >= MAX_SOURCE_PROFILE_DEPTH)
            return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                               "profile \"%s\": source_profile chain is longer "
                               "than %d profiles (a loop?)", name,
                               MAX_SOURCE_PROFILE_DEPTH);
        if (strcmp(srcp, name) == 0)
            err = profile_static_keys(pf, name, &source, swhy, sizeof(swhy));
        else if (!prof_exists(pf, srcp))
            err = cdc_err_set(swhy, sizeof(swhy), CDC_ERR_CONFIG,
                              "not found in %s or %s", pf->cred_path,
                              pf->conf_path);
        else
            err = resolve_profile(ch, pf, srcp, depth + 1, &source, swhy,
                                  sizeof(swhy));
        if (err != CDC_OK)
            return cdc_err_set(why, why_size, err == CDC_ERR_NOT_FOUND
                                                  ? CDC_ERR_CONFIG : err,
                               "profile \"%s\": source_profile \"%s\": %s",
                               name, srcp, swhy);
    } else if (csrc) {
        if (strcmp(csrc, "Environment") == 0)
            err = src_env(ch, &source, swhy, sizeof(swhy));
        else if (strcmp(csrc, "Ec2InstanceMetadata") == 0)
            err = src_imds(ch, &source, swhy, sizeof(swhy));
        else if (strcmp(csrc, "EcsContainer") == 0)
            err = src_container(ch, &source, swhy, sizeof(swhy));
        else
            return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                               "profile \"%s\": credential_source \"%.40s\" is "
                               "not Environment, Ec2InstanceMetadata or "
                               "EcsContainer", name, csrc);
        if (err != CDC_OK)
            return cdc_err_set(why, why_size, err == CDC_ERR_NOT_FOUND
                                                  ? CDC_ERR_CONFIG : err,
                               "profile \"%s\": credential_source %s: %s",
                               name, csrc, swhy);
    } else {
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\" has role_arn but no source_profile, "
                           "credential_source or web_identity_token_file",
                           name);
    }

    err = assume_role(ch, pf, name, role_arn, &source, out, why, why_size);
    cdc_aws_creds_clear(&source);
    if (err == CDC_OK)
        creds_source(out, "profile %s assume role", name);
    return err;
}

/* The AWS CLI's order within one profile: role assumption, then static
 * keys, then credential_process. */
static cdc_err_t resolve_profile(cdc_cred_chain_t *ch, const prof_files_t *pf,
                                 const char *name, int depth,
                                 cdc_aws_creds_t *out, char *why,
                                 size_t why_size)
{
    const char *role_arn = prof_get(pf, name, "role_arn");
    const char *process = prof_get(pf, name, "credential_process");
    cdc_err_t err;

    if (!prof_exists(pf, name))
        return prof_not_found(pf, name, why, why_size);
    if (role_arn)
        return profile_role(ch, pf, name, role_arn, depth, out, why, why_size);
    if (prof_get(pf, name, "aws_access_key_id") ||
        prof_get(pf, name, "aws_secret_access_key"))
        return profile_static_keys(pf, name, out, why, why_size);
    if (process) {
        err = credential_process(ch, process, out, why, why_size);
        if (err == CDC_OK)
            creds_source(out, "profile %s credential_process", name);
        return err;
    }
    if (prof_get(pf, name, "sso_session") || prof_get(pf, name, "sso_start_url"))
        return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                           "profile \"%s\" uses IAM Identity Center (SSO), "
                           "which dsqlcdc does not read directly; add "
                           "credential_process = aws configure "
                           "export-credentials --profile %s --format process "
                           "to a profile", name, name);
    return cdc_err_set(why, why_size, CDC_ERR_CONFIG,
                       "profile \"%s\" has none of aws_access_key_id, "
                       "credential_process, role_arn", name);
}

static cdc_err_t src_profile(cdc_cred_chain_t *ch, cdc_aws_creds_t *out,
                             char *why, size_t why_size)
{
    const char *name = profile_name(ch);
    prof_files_t pf;
    char lwhy[WHY_SIZE];
    cdc_err_t err;

    err = prof_files_load(&pf, true, lwhy, sizeof(lwhy));
    if (err != CDC_OK)
        return cdc_err_set(why, why_size, err, "profile \"%s\": %s", name,
                           lwhy);
    err = resolve_profile(ch, &pf, name, 0, out, lwhy, sizeof(lwhy));
    prof_files_free(&pf);
    if (err == CDC_OK)
        return CDC_OK;
    /* Every reason names the profile, once. */
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "profile \"%s\"", name);
    if (strncmp(lwhy, prefix, strlen(prefix)) == 0)
        return cdc_err_set(why, why_size, err, "%s", lwhy);
    return cdc_err_set(why, why_size, err, "%s: %s", prefix, lwhy);
}

/* ------------------------------------------------------------------ chain */

static const struct {
    const char *name;
    source_fn fn;
} sources[SRC__COUNT] = {
    [SRC_ENV] = {"environment", src_env},
    [SRC_WEB_IDENTITY] = {"web identity", src_web_identity},
    [SRC_PROFILE] = {"profile", src_profile},
    [SRC_CONTAINER] = {"container", src_container},
    [SRC_IMDS] = {"IMDS", src_imds},
};

cdc_cred_chain_t *cdc_cred_chain_new(const char *profile)
{
    cdc_cred_chain_t *ch = calloc(1, sizeof(*ch));

    if (!ch)
        return NULL;
    if (profile && *profile && !(ch->profile = strdup(profile))) {
        free(ch);
        return NULL;
    }
    cdc_buf_init(&ch->tried);
    cdc_cred_chain_set_opts(ch, NULL);
    return ch;
}

void cdc_cred_chain_destroy(cdc_cred_chain_t *ch)
{
    if (!ch)
        return;
    cdc_aws_creds_clear(&ch->creds);
    cdc_buf_free(&ch->tried);
    free(ch->profile);
    free(ch);
}

void cdc_cred_chain_set_opts(cdc_cred_chain_t *ch,
                             const cdc_cred_chain_opts_t *o)
{
    static const cdc_cred_chain_opts_t zero;

    if (!o)
        o = &zero;
    ch->opts.refresh_margin_secs = o->refresh_margin_secs > 0
        ? o->refresh_margin_secs : DEFAULT_REFRESH_MARGIN;
    ch->opts.retry_secs = o->retry_secs > 0 ? o->retry_secs
                                            : DEFAULT_RETRY_SECS;
    ch->opts.imds_timeout_ms = o->imds_timeout_ms > 0 ? o->imds_timeout_ms
                                                      : DEFAULT_IMDS_MS;
    ch->opts.container_timeout_ms = o->container_timeout_ms > 0
        ? o->container_timeout_ms : DEFAULT_CONTAINER_MS;
    ch->opts.sts_timeout_ms = o->sts_timeout_ms > 0 ? o->sts_timeout_ms
                                                    : DEFAULT_STS_MS;
    ch->opts.process_timeout_ms = o->process_timeout_ms > 0
        ? o->process_timeout_ms : DEFAULT_PROCESS_MS;
}

void cdc_cred_chain_set_clock(cdc_cred_chain_t *ch, cdc_cred_clock_fn now,
                              void *ud)
{
    ch->now_fn = now;
    ch->now_ud = ud;
}

const char *cdc_cred_chain_last_error(const cdc_cred_chain_t *ch)
{
    return ch->last_error;
}

const char *cdc_cred_chain_tried(const cdc_cred_chain_t *ch)
{
    return cdc_buf_str(&ch->tried);
}

int64_t cdc_cred_chain_refresh_at(const cdc_cred_chain_t *ch)
{
    return ch->have ? ch->refresh_at : 0;
}

static void chain_schedule(cdc_cred_chain_t *ch, int64_t now)
{
    if (ch->creds.expires_at == 0) {
        ch->refresh_at = 0;
        return;
    }
    int64_t at = ch->creds.expires_at - ch->opts.refresh_margin_secs;
    /* Credentials that arrive already inside the margin (or a source that
     * keeps failing) must not turn every get into a request. */
    if (at < now + ch->opts.retry_secs)
        at = now + ch->opts.retry_secs;
    ch->refresh_at = at;
}

static void chain_adopt(cdc_cred_chain_t *ch, cred_src_t src,
                        cdc_aws_creds_t *fresh, int64_t now)
{
    bool same = ch->have && ch->src == src &&
                strcmp(ch->creds.source, fresh->source) == 0;

    cdc_aws_creds_clear(&ch->creds);
    ch->creds = *fresh;
    memset(fresh, 0, sizeof(*fresh));
    ch->have = true;
    ch->src = src;
    ch->last_error[0] = '\0';
    chain_schedule(ch, now);
    cdc_log_add_secret(ch->creds.secret_access_key);
    if (ch->creds.session_token)
        cdc_log_add_secret(ch->creds.session_token);
    if (!same)
        cdc_log_info("auth", "AWS credentials from %s (access key %s)",
                     ch->creds.source, ch->creds.access_key_id);
}

/* Walk every source in order; the first that answers wins. */
static cdc_err_t chain_resolve(cdc_cred_chain_t *ch, int64_t now,
                               char *errstr, size_t errstr_size)
{
    cdc_aws_creds_t fresh = {0};
    char why[WHY_SIZE];

    cdc_buf_reset(&ch->tried);
    for (int s = 0; s < SRC__COUNT; s++) {
        cdc_err_t err;
        why[0] = '\0';
        if (s == SRC_ENV && ch->profile)
            /* As in the AWS CLI: a profile named explicitly overrides
             * environment keys (AWS_PROFILE does not). */
            err = cdc_err_set(why, sizeof(why), CDC_ERR_NOT_FOUND,
                              "skipped, profile \"%s\" was chosen "
                              "explicitly", ch->profile);
        else
            err = sources[s].fn(ch, &fresh, why, sizeof(why));
        if (ch->tried.len)
            cdc_buf_puts(&ch->tried, "; ");
        if (err == CDC_OK) {
            if (s == SRC_PROFILE)
                cdc_buf_printf(&ch->tried, "profile \"%s\": ok",
                               profile_name(ch));
            else
                cdc_buf_printf(&ch->tried, "%s: ok", sources[s].name);
            chain_adopt(ch, (cred_src_t)s, &fresh, now);
            return CDC_OK;
        }
        /* The profile source names the profile itself. */
        if (s == SRC_PROFILE)
            cdc_buf_puts(&ch->tried, why);
        else
            cdc_buf_printf(&ch->tried, "%s: %s", sources[s].name, why);
        cdc_aws_creds_clear(&fresh);
    }
    return cdc_err_set(errstr, errstr_size, CDC_ERR_CREDENTIALS,
                       "no usable AWS credentials (%s). Set AWS_ACCESS_KEY_ID "
                       "and AWS_SECRET_ACCESS_KEY, pick a profile with "
                       "AWS_PROFILE (see `aws configure`), or run with an IAM "
                       "role (EKS IRSA / Pod Identity, ECS task role, EC2 "
                       "instance profile)", cdc_buf_str(&ch->tried));
}

cdc_err_t cdc_cred_chain_get(cdc_cred_chain_t *ch, const cdc_aws_creds_t **out,
                             char *errstr, size_t errstr_size)
{
    int64_t now;
    char why[WHY_SIZE], when[32];
    cdc_aws_creds_t fresh = {0};
    cdc_err_t err;

    if (!ch || !out)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "cdc_cred_chain_get: NULL argument");
    *out = NULL;
    now = chain_now(ch);

    if (ch->have && (ch->creds.expires_at == 0 || now < ch->creds.expires_at)) {
        if (ch->refresh_at == 0 || now < ch->refresh_at) {
            *out = &ch->creds;
            cdc_err_set(errstr, errstr_size, CDC_OK, "%s", ch->last_error);
            return CDC_OK;
        }
        err = sources[ch->src].fn(ch, &fresh, why, sizeof(why));
        if (err == CDC_OK) {
            chain_adopt(ch, ch->src, &fresh, now);
        } else {
            cdc_aws_creds_clear(&fresh);
            fmt_time(ch->creds.expires_at, when);
            snprintf(ch->last_error, sizeof(ch->last_error),
                     "refreshing AWS credentials from %s failed (%s); using "
                     "the cached ones, valid until %s", ch->creds.source, why,
                     when);
            chain_schedule(ch, now);
            cdc_log_warn("auth", "%s", ch->last_error);
        }
        *out = &ch->creds;
        cdc_err_set(errstr, errstr_size, CDC_OK, "%s", ch->last_error);
        return CDC_OK;
    }

    if (ch->have) {
        fmt_time(ch->creds.expires_at, when);
        cdc_log_warn("auth", "AWS credentials from %s expired at %s; "
                     "resolving the credential chain again",
                     ch->creds.source, when);
        cdc_aws_creds_clear(&ch->creds);
        ch->have = false;
        ch->refresh_at = 0;
    }
    err = chain_resolve(ch, now, errstr, errstr_size);
    if (err != CDC_OK)
        return err;
    *out = &ch->creds;
    cdc_err_set(errstr, errstr_size, CDC_OK, "%s", "");
    return CDC_OK;
}

/* ----------------------------------------------------------------- region */

static bool region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 40)
        return false;
    for (const char *p = r; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
              *p == '-'))
            return false;
    return true;
}

static cdc_err_t region_out(const char *r, const char *from, char *out,
                            size_t out_size, char *errstr, size_t errstr_size)
{
    if (!region_valid(r))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                           "region \"%.60s\" from %s is not a region name "
                           "(like us-east-1)", r, from);
    if (strlen(r) >= out_size)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "region buffer too small");
    memcpy(out, r, strlen(r) + 1);
    return CDC_OK;
}

cdc_err_t cdc_aws_region_resolve(const char *configured, const char *profile,
                                 char *out, size_t out_size,
                                 char *errstr, size_t errstr_size)
{
    prof_files_t pf;
    char lwhy[512], from[PATH_MAX + 64];
    const char *r;
    cdc_err_t err;

    if (!out || out_size == 0)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "region buffer missing");
    out[0] = '\0';
    if (configured && *configured)
        return region_out(configured, "the configuration", out, out_size,
                          errstr, errstr_size);
    if ((r = env_get("AWS_REGION")))
        return region_out(r, "AWS_REGION", out, out_size, errstr, errstr_size);
    if ((r = env_get("AWS_DEFAULT_REGION")))
        return region_out(r, "AWS_DEFAULT_REGION", out, out_size, errstr,
                          errstr_size);

    if (!profile || !*profile)
        profile = profile_name(NULL);
    err = prof_files_load(&pf, false, lwhy, sizeof(lwhy));
    if (err != CDC_OK)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                           "no AWS region: AWS_REGION and AWS_DEFAULT_REGION "
                           "are not set and the config file is unreadable "
                           "(%s)", lwhy);
    r = conf_get(&pf, profile, "region");
    if (r) {
        snprintf(from, sizeof(from), "profile \"%s\" in %s", profile,
                 pf.conf_path);
        err = region_out(r, from, out, out_size, errstr, errstr_size);
    } else {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_CONFIG,
                          "no AWS region: set dsql.region, AWS_REGION or "
                          "AWS_DEFAULT_REGION, or \"region\" in profile "
                          "\"%s\" of %s%s", profile, pf.conf_path,
                          pf.conf_missing ? " (no such file)" : "");
    }
    prof_files_free(&pf);
    return err;
}
