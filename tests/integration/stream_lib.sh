# shellcheck shell=bash
#
# Helpers for stream-source tests: a kinesalite (local Kinesis API) per test,
# calls to it, putting DSQL CDC records, a connector config for
# source.mode=stream, and the exact Kafka contents the shared records.jsonl
# must produce. Source after env.sh, cdc_test_begin and capture_lib.sh.
# Kinesalite is started by the test (stream_kinesis_start) and stopped by
# cdc_test_end with everything else the test spawned.

STREAM_KINESIS_DIR=${CDC_SOURCE_DIR:?}/tests/kinesis
STREAM_RECORDS=${CDC_FIXTURES:?}/dsql-cdc/records.jsonl
# Fake credentials: kinesalite checks that requests are signed, not by whom.
export AWS_ACCESS_KEY_ID=AKIDSTREAMTEST AWS_SECRET_ACCESS_KEY=stream-test-secret
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent

# stream_require: exit 77 (skip) when Node.js or kinesalite is missing.
stream_require() {
        if ! command -v node >/dev/null 2>&1; then
                echo "SKIP: node is not installed (kinesalite, the local Kinesis, needs Node.js)" >&2
                exit 77
        fi
        if [[ ! -d $STREAM_KINESIS_DIR/node_modules/kinesalite ]]; then
                echo "SKIP: kinesalite is not installed: run (cd tests/kinesis && npm ci --ignore-scripts --no-audit --no-fund)" >&2
                exit 77
        fi
        [[ -r $STREAM_RECORDS ]] || { echo "missing $STREAM_RECORDS" >&2; exit 1; }
}

# The helper the calls below go through (written once per test).
_stream_js() {
        local js=$CDC_TEST_TMP/kin.js
        [[ -s $js ]] && { echo "$js"; return 0; }
        cat >"$js" <<'JS'
'use strict'
// node kin.js PORT call OP JSON          one Kinesis call, prints the answer
// node kin.js PORT put STREAM FILE [FROM [TO [HASH_KEY]]]
//                                        PutRecord per line FROM..TO (1-based,
//                                        inclusive), in order, random keys
//                                        (or all to the shard owning HASH_KEY)
// node kin.js PORT wait-active STREAM    until the stream is ACTIVE (10 s)
// node kin.js PORT flow STREAM N KEYS SPLIT_AT MERGE_AT EXPECTED_FILE
//                                        N synthetic records over KEYS keys,
//                                        split shard 0 before record SPLIT_AT
//                                        and merge its children before
//                                        MERGE_AT; writes the exact topic
//                                        contents (key TAB value) expected
const http = require('http'), fs = require('fs'), crypto = require('crypto')
const [port, cmd, ...args] = process.argv.slice(2)

function call(op, body) {
  const data = JSON.stringify(body)
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: +port, method: 'POST', path: '/',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'Kinesis_20131202.' + op,
        'X-Amz-Date': date,
        'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIDSTREAMTEST/' + date.slice(0, 8) +
          '/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, ' +
          'Signature=' + '0'.repeat(64),
        'Content-Length': Buffer.byteLength(data),
      },
    }, (res) => {
      let b = ''
      res.on('data', (c) => { b += c })
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(op + ': HTTP ' + res.statusCode + ' ' + b))
        resolve(b ? JSON.parse(b) : {})
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const rndKey = () => crypto.randomBytes(12).toString('hex')

async function put(stream, data, hashKey) {
  const req = {StreamName: stream, PartitionKey: rndKey(), Data: Buffer.from(data).toString('base64')}
  if (hashKey) req.ExplicitHashKey = hashKey
  await call('PutRecord', req)
}

async function waitActive(stream) {
  for (let i = 0; i < 200; i++) {
    const s = await call('DescribeStreamSummary', {StreamName: stream})
    if (s.StreamDescriptionSummary.StreamStatus === 'ACTIVE') return
    await sleep(50)
  }
  throw new Error(stream + ' did not become ACTIVE')
}

async function openShards(stream) {
  const l = await call('ListShards', {StreamName: stream})
  return l.Shards.filter((s) => !s.SequenceNumberRange.EndingSequenceNumber)
}

async function flow(stream, n, keys, splitAt, mergeAt, expectedFile) {
  const base = 1783680000000000000n
  const version = new Array(keys).fill(0)
  const byKey = Array.from({length: keys}, () => [])
  for (let i = 0; i < n; i++) {
    if (i === splitAt) {
      const s0 = (await openShards(stream))[0]
      const lo = BigInt(s0.HashKeyRange.StartingHashKey), hi = BigInt(s0.HashKeyRange.EndingHashKey)
      await call('SplitShard', {StreamName: stream, ShardToSplit: s0.ShardId,
                                NewStartingHashKey: ((lo + hi) / 2n).toString()})
      await waitActive(stream)
      process.stderr.write('flow: split ' + s0.ShardId + ' before record ' + i + '\n')
    }
    if (i === mergeAt) {
      const open = await openShards(stream)
      // the two newest shards are the split's children, adjacent ranges
      const kids = open.slice(-2).sort((a, b) =>
        BigInt(a.HashKeyRange.StartingHashKey) < BigInt(b.HashKeyRange.StartingHashKey) ? -1 : 1)
      await call('MergeShards', {StreamName: stream, ShardToMerge: kids[0].ShardId,
                                 AdjacentShardToMerge: kids[1].ShardId})
      await waitActive(stream)
      process.stderr.write('flow: merged ' + kids[0].ShardId + ' + ' + kids[1].ShardId + ' before record ' + i + '\n')
    }
    const k = i % keys, v = ++version[k]
    const id = 'k' + String(k).padStart(3, '0')
    const tsNs = base + BigInt(i) * 1000003n
    const tsMs = Number(tsNs / 1000000n)
    const after = {id: id, v: v, note: 'n' + i}
    const op = v === 1 ? 'c' : 'u'
    const rec = '{"type":"full","op":"' + op + '","before":null,"after":' + JSON.stringify(after) +
      ',"source":{"version":"1.0","ts_ms":' + tsMs + ',"ts_ns":' + tsNs + ',"txId":"tx' + i +
      '","schema":"public","table":"items","db":"postgres","cluster":"c1"},"ts_ms":' + (tsMs + 7) +
      ',"ts_ns":' + (tsNs + 7000000n) + '}'
    byKey[k].push('{"id":"' + id + '"}\t' + JSON.stringify(after).slice(0, -1) +
      ',"__op":"' + op + '","__table":"items","__ts_ms":' + (tsMs + 7) + '}')
    await put(stream, rec)
    if (i % 10 === 9) await sleep(20)
  }
  fs.writeFileSync(expectedFile, byKey.flat().join('\n') + '\n')
}

async function main() {
  switch (cmd) {
  case 'call':
    process.stdout.write(JSON.stringify(await call(args[0], JSON.parse(args[1]))) + '\n')
    break
  case 'put': {
    const lines = fs.readFileSync(args[1], 'utf8').split('\n').filter((l) => l.length)
    const from = +(args[2] || 1), to = +(args[3] || lines.length)
    for (let i = from; i <= to; i++) await put(args[0], lines[i - 1], args[4])
    break
  }
  case 'wait-active':
    await waitActive(args[0])
    break
  case 'flow':
    await flow(args[0], +args[1], +args[2], +args[3], +args[4], args[5])
    break
  default:
    throw new Error('unknown command ' + cmd)
  }
}
main().catch((e) => { process.stderr.write('kin.js: ' + (e.stack || e) + '\n'); process.exit(1) })
JS
        echo "$js"
}

# stream_kinesis_start: kinesalite on 127.0.0.1:<free port> for this test;
# sets STREAM_KINESIS_PORT (and _PID). cdc_test_end stops it.
stream_kinesis_start() {
        local pf=$CDC_TEST_TMP/kinesis.port
        rm -f "$pf"
        cdc_spawn "$CDC_TEST_TMP/kinesalite.log" node "$STREAM_KINESIS_DIR/start.js" --port-file "$pf"
        STREAM_KINESIS_PID=$CDC_SPAWN_PID
        if ! cdc_wait_for 20 test -s "$pf"; then
                cat "$CDC_TEST_TMP/kinesalite.log" >&2
                echo "stream_kinesis_start: kinesalite did not publish its port" >&2
                return 1
        fi
        STREAM_KINESIS_PORT=$(<"$pf")
        export STREAM_KINESIS_PORT STREAM_KINESIS_PID
}

# stream_kinesis_stop: SIGTERM, wait for it to go.
stream_kinesis_stop() {
        kill -TERM "$STREAM_KINESIS_PID" 2>/dev/null || true
        wait "$STREAM_KINESIS_PID" 2>/dev/null || true
}

# kin CMD ARGS...: the helper above against this test's kinesalite.
kin() {
        node "$(_stream_js)" "$STREAM_KINESIS_PORT" "$@"
}

# stream_create NAME SHARDS: a stream, ACTIVE on return.
stream_create() {
        kin call CreateStream "{\"StreamName\":\"$1\",\"ShardCount\":$2}" >/dev/null &&
                kin wait-active "$1"
}

# stream_put NAME [FROM [TO [HASH_KEY]]]: lines of records.jsonl, in file
# order (with HASH_KEY all to the shard whose range holds it).
stream_put() {
        kin put "$1" "$STREAM_RECORDS" "${2:-1}" "${3:-}" "${4:-}"
}

# stream_config FILE STREAM [KEY=VALUE ...]: a connector for source.mode=stream
# with no database; keys for the two keyed tables of records.jsonl.
stream_config() {
        local file=$1 stream=$2
        shift 2
        cap_config "$file" \
                source.mode=stream \
                dsql.endpoint.primary= \
                "stream.kinesis.stream.name=$stream" \
                "stream.kinesis.endpoint=http://127.0.0.1:$STREAM_KINESIS_PORT" \
                "message.key.columns=public.event_headers:id;public.order_items:order_id,item_id" \
                stream.reorder.window.ms=1000 \
                log.level=debug \
                "$@"
}

# stream_by_key: stdin "key TAB value" lines grouped by key (keys in byte
# order), each key's lines in their order on the topic.
stream_by_key() {
        LC_ALL=C sort -s -t $'\t' -k1,1
}

# stream_first_seen: drops repeated lines, keeping the first of each.
stream_first_seen() {
        awk '!seen[$0]++'
}

# The exact topic contents records.jsonl gives in the flat format, grouped
# by key (expected.md, section A). Values are DSQL's JSON as it is: without
# a catalog there are no column types, so timestamps stay microsecond
# numbers, json columns strings, numerics strings; __ts_ms is the record's
# top-level ts_ms. Unknown op "x" is an update (the row existed).
stream_expected_event_headers() {
        cat <<'EXP'
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"audit","created_date":1783673998120000,"saved_date":1783673999001000,"header_data":"{\"v\":1,\"src\":\"web\"}","__op":"c","__table":"event_headers","__ts_ms":1783674000263}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":1783673998120000,"saved_date":1783674001400000,"header_data":"{\"v\":2,\"src\":\"web\"}","__op":"u","__table":"event_headers","__ts_ms":1783674002001}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":1783673998120000,"saved_date":1783674004050000,"header_data":null,"__op":"u","__table":"event_headers","__ts_ms":1783674005218}
{"id":"ev-001"}	{"id":"ev-001","event_name":"user.signup","event_type":"security","created_date":1783673998120000,"saved_date":1783674011400000,"header_data":"{\"v\":3}","__op":"u","__table":"event_headers","__ts_ms":1783674011968}
{"id":"ev-001"}	{"id":"ev-001","__op":"d","__table":"event_headers","__ts_ms":1783674014081}
{"id":"ev-001"}	NULL
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":1783673998500000,"saved_date":null,"header_data":null,"__op":"c","__table":"event_headers","__ts_ms":1783674000263}
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":1783673998500000,"saved_date":1783674003100000,"header_data":"{\"v\":1,\"lines\":2}","__op":"u","__table":"event_headers","__ts_ms":1783674003379}
{"id":"ev-002"}	{"id":"ev-002","event_name":"order.created","event_type":"business","created_date":1783673998500000,"saved_date":1783674007200000,"header_data":"{\"v\":2,\"lines\":3}","__op":"u","__table":"event_headers","__ts_ms":1783674008119}
{"id":"ev-003"}	{"id":"ev-003","event_name":"payment.failed","event_type":"business","created_date":1783674001200000,"saved_date":1783674001450000,"header_data":"{\"v\":1,\"code\":\"E42\"}","__op":"c","__table":"event_headers","__ts_ms":1783674002001}
{"id":"ev-003"}	{"id":"ev-003","__op":"d","__table":"event_headers","__ts_ms":1783674005218}
{"id":"ev-003"}	NULL
{"id":"ev-003"}	{"id":"ev-003","event_name":"payment.retried","event_type":"business","created_date":1783674008700000,"saved_date":1783674008990000,"header_data":"{\"v\":1,\"attempt\":2}","__op":"c","__table":"event_headers","__ts_ms":1783674009105}
{"id":"ev-004"}	{"id":"ev-004","event_name":"bulk.import","event_type":"batch","created_date":1783674005900000,"saved_date":1783674005990000,"header_data":"{\"v\":1,\"note\":\"größer → split\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}","__op":"c","__table":"event_headers","__ts_ms":1783674006434}
{"id":"ev-005"}	{"id":"ev-005","event_name":"heartbeat","event_type":null,"created_date":1783674014400000,"saved_date":null,"header_data":null,"__op":"c","__table":"event_headers","__ts_ms":1783674014564}
{"id":"ev-005"}	{"id":"ev-005","event_name":"heartbeat","event_type":"system","created_date":1783674014400000,"saved_date":1783674016450000,"header_data":null,"__op":"u","__table":"event_headers","__ts_ms":1783674016568}
EXP
}

stream_expected_order_items() {
        cat <<'EXP'
{"order_id":1001,"item_id":1}	{"order_id":1001,"item_id":1,"quantity":2,"price":"19.90","__op":"c","__table":"order_items","__ts_ms":1783674000264}
{"order_id":1001,"item_id":1}	{"order_id":1001,"item_id":1,"quantity":3,"price":"19.90","__op":"u","__table":"order_items","__ts_ms":1783674003379}
{"order_id":1001,"item_id":1}	{"order_id":1001,"item_id":1,"quantity":5,"price":"18.50","__op":"u","__table":"order_items","__ts_ms":1783674011968}
{"order_id":1001,"item_id":2}	{"order_id":1001,"item_id":2,"quantity":1,"price":"5.00","__op":"c","__table":"order_items","__ts_ms":1783674000264}
{"order_id":1001,"item_id":2}	{"order_id":1001,"item_id":2,"__op":"d","__table":"order_items","__ts_ms":1783674003380}
{"order_id":1001,"item_id":2}	NULL
{"order_id":1002,"item_id":1}	{"order_id":1002,"item_id":1,"quantity":1,"price":"NaN","__op":"c","__table":"order_items","__ts_ms":1783674011968}
{"order_id":1002,"item_id":1}	{"order_id":1002,"item_id":1,"quantity":4,"price":"7.25","__op":"u","__table":"order_items","__ts_ms":1783674014081}
EXP
}

# Messages records.jsonl puts on each topic (changes + tombstones).
# shellcheck disable=SC2034
STREAM_EH_COUNT=16
# shellcheck disable=SC2034
STREAM_OI_COUNT=8

# stream_topics: creates this test's two topics with one partition each
# (so a dump is in produce order) and sets STREAM_EH / STREAM_OI.
stream_topics() {
        STREAM_EH=$CDC_TOPIC_PREFIX.public.event_headers
        STREAM_OI=$CDC_TOPIC_PREFIX.public.order_items
        cdc_kafka_cmd "topic $STREAM_EH 1" && cdc_kafka_cmd "topic $STREAM_OI 1"
}

# stream_count_read LOG: records the daemon has read so far (debug lines).
stream_count_read() {
        awk '/stream: .*record\(s\) from shard/ {
                for (i = 1; i <= NF; i++) if ($(i+1) ~ /^record\(s\)$/) n += $i
             } END { print n + 0 }' "$1"
}

_stream_read_at_least() {
        (($(stream_count_read "$1") >= $2))
}
