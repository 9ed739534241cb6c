#!/usr/bin/env node
// Starts kinesalite (a local Kinesis API) for dsqlcdc's stream-source tests.
//
// Binds 127.0.0.1 on a port the kernel picks (kinesalite's own CLI binds
// every interface), prints the port alone on the first stdout line, and
// writes it to --port-file when given (written whole, then renamed).
// Runs until SIGTERM/SIGINT, or until stdin closes with
// --exit-on-stdin-close, so a test that dies cannot leave it behind.
//
// Options: --port-file PATH, --exit-on-stdin-close, --create-ms N,
// --update-ms N, --delete-ms N (how long streams stay CREATING/UPDATING/
// DELETING; default 0), --shard-limit N (default 50).
'use strict'

const fs = require('fs')
const path = require('path')

function usage(msg) {
  process.stderr.write('start.js: ' + msg + '\n')
  process.exit(2)
}

const opts = {portFile: null, stdinExit: false, createMs: 0, updateMs: 0, deleteMs: 0, shardLimit: 50}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const num = () => {
    const v = Number(argv[++i])
    if (!Number.isInteger(v) || v < 0) usage(a + ' needs a non-negative integer')
    return v
  }
  if (a === '--port-file') {
    if (i + 1 >= argv.length) usage('--port-file needs a path')
    opts.portFile = argv[++i]
  } else if (a === '--exit-on-stdin-close') opts.stdinExit = true
  else if (a === '--create-ms') opts.createMs = num()
  else if (a === '--update-ms') opts.updateMs = num()
  else if (a === '--delete-ms') opts.deleteMs = num()
  else if (a === '--shard-limit') opts.shardLimit = num()
  else usage('unknown option ' + a)
}

let kinesalite
try {
  kinesalite = require('kinesalite')
} catch (e) {
  usage('kinesalite is not installed here; run `npm ci` in ' + __dirname + ' (' + e.message + ')')
}

const server = kinesalite({
  createStreamMs: opts.createMs,
  updateStreamMs: opts.updateMs,
  deleteStreamMs: opts.deleteMs,
  shardLimit: opts.shardLimit,
})

let stopping = false
function stop(code) {
  if (stopping) return
  stopping = true
  // Do not wait on keep-alive clients: the process is going away.
  server.close(() => process.exit(code))
  if (server.closeAllConnections) server.closeAllConnections()
  setTimeout(() => process.exit(code), 2000).unref()
}

process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
if (opts.stdinExit) {
  process.stdin.on('end', () => stop(0))
  process.stdin.on('close', () => stop(0))
  process.stdin.on('error', () => stop(0))
  process.stdin.resume()
}

server.on('error', (e) => {
  process.stderr.write('start.js: kinesalite: ' + (e.stack || e) + '\n')
  process.exit(1)
})

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port
  if (opts.portFile) {
    const tmp = opts.portFile + '.tmp' + process.pid
    fs.writeFileSync(tmp, port + '\n')
    fs.renameSync(tmp, path.resolve(opts.portFile))
  }
  process.stdout.write(port + '\n')
})
