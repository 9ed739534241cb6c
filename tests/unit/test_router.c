/*
 * test_router.c - topic routing with Kafka Connect's RegexRouter semantics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config/config.h"
#include "encode/router.h"

static cdc_router_t *router_for(const char *json, cdc_config_t **cfg)
{
    cdc_buf_t p;
    cdc_buf_init(&p);
    *cfg = cdc_config_new();
    assert_int_equal(cdc_config_load_string(*cfg, json, "t", &p), CDC_OK);
    assert_int_equal(cdc_config_validate(*cfg, &p), CDC_OK);
    cdc_buf_free(&p);
    char err[256];
    cdc_router_t *r = cdc_router_new(*cfg, err, sizeof err);
    assert_non_null(r);
    return r;
}

static void expect_route(const cdc_router_t *r, const char *in, const char *out)
{
    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_router_apply(r, in, &b), CDC_OK);
    assert_string_equal(cdc_buf_str(&b), out);
    cdc_buf_free(&b);
}

#define BASE "\"dsql.endpoint.primary\":\"h\",\"dsql.tables\":\"t\","

static void test_plugin_route(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_router_t *r = router_for(
        "{" BASE "\"transforms\":\"route\","
        "\"transforms.route.type\":\"org.apache.kafka.connect.transforms.RegexRouter\","
        "\"transforms.route.regex\":\"dsql-cdc\\\\.public\\\\.event_headers\","
        "\"transforms.route.replacement\":\"raw-event-headers\"}", &c);
    expect_route(r, "dsql-cdc.public.event_headers", "raw-event-headers");
    /* whole-name match only */
    expect_route(r, "dsql-cdc.public.event_headers2", "dsql-cdc.public.event_headers2");
    expect_route(r, "x.dsql-cdc.public.event_headers", "x.dsql-cdc.public.event_headers");
    expect_route(r, "dsql-cdc.public.orders", "dsql-cdc.public.orders");
    cdc_router_destroy(r);
    cdc_config_destroy(c);
}

static void test_groups_and_chain(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_router_t *r = router_for(
        "{" BASE "\"transforms\":\"a, b\","
        "\"transforms.a.type\":\"io.confluent.connect.cloud.transforms.TopicRegexRouter\","
        "\"transforms.a.regex\":\"dsql-cdc\\\\.([^.]+)\\\\.(.*)\","
        "\"transforms.a.replacement\":\"$2-from-$1\\\\$\","
        "\"transforms.b.type\":\"org.apache.kafka.connect.transforms.RegexRouter\","
        "\"transforms.b.regex\":\"(.*)-from-public\\\\$\","
        "\"transforms.b.replacement\":\"cdc.$1\"}", &c);
    expect_route(r, "dsql-cdc.public.orders", "cdc.orders");
    expect_route(r, "dsql-cdc.sales.orders", "orders-from-sales$");
    cdc_router_destroy(r);
    cdc_config_destroy(c);
}

static void test_no_transforms(void **state)
{
    (void)state;
    cdc_config_t *c;
    cdc_router_t *r = router_for("{" BASE "\"topic.prefix\":\"p\"}", &c);
    expect_route(r, "p.public.t", "p.public.t");
    cdc_router_destroy(r);
    cdc_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_route),
        cmocka_unit_test(test_groups_and_chain),
        cmocka_unit_test(test_no_transforms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
