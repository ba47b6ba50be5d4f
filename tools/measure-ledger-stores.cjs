/*
 * Measures the two embedded-store candidates for the ledger's order history (docs/ledger.md, "The order store")
 * with the state machine's apply pattern: per applied batch of `--batch` orders, one transaction that looks each
 * order id up (the dedup check, a miss) and writes its result, plus the applied index. Prints writes/s and RSS.
 *
 *   node tools/measure-ledger-stores.cjs --modules /tmp/npmscratch/node_modules [--orders 1000000] [--batch 64]
 *
 * Plain CommonJS, not TypeScript: the candidates need not be installed in this repository (only the chosen one is),
 * so they are loaded from --modules.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const modules = arg('modules', path.join(__dirname, '..', 'node_modules'));
const ORDERS = Number(arg('orders', '1000000'));
const BATCH = Number(arg('batch', '64'));

function result(i) {
  return {
    orderId: `order-${i}-${(i * 2654435761) % 1e9}`,
    account: `acct-${i % 1000}`,
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 10,
    price: 101.5,
    status: 'ACCEPTED',
    seq: i + 1,
    duplicate: false,
    position: i * 10,
  };
}

function run(name, open) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `store-${name}-`));
  const store = open(dir);
  const rss = [];
  const started = process.hrtime.bigint();
  let maxBatchMs = 0;
  for (let i = 0, index = 1; i < ORDERS; index++) {
    const batch = [];
    for (let k = 0; k < BATCH && i < ORDERS; k++, i++) batch.push(result(i));
    const t0 = process.hrtime.bigint();
    store.apply(batch, index);
    maxBatchMs = Math.max(maxBatchMs, Number(process.hrtime.bigint() - t0) / 1e6);
    if (i % (ORDERS / 10) < BATCH) rss.push(Math.round(process.memoryUsage().rss / 2 ** 20));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < 100000; i++) if (store.get(result((i * 7919) % ORDERS).orderId)) hits++;
  const lookupUs = Number(process.hrtime.bigint() - t0) / 1e3 / 100000;
  store.close();
  const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `${name}: ${ORDERS} orders in batches of ${BATCH}: ${Math.round(ORDERS / seconds)} writes/s, ` +
      `max batch ${maxBatchMs.toFixed(1)} ms, lookup ${lookupUs.toFixed(1)} µs (${hits} hits), ` +
      `${Math.round(bytes / 2 ** 20)} MiB on disk, RSS MiB over the run: ${rss.join(' ')}`,
  );
}

function sqlite(dir) {
  const Database = require(path.join(modules, 'better-sqlite3'));
  const db = new Database(path.join(dir, 'ledger.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY, result TEXT NOT NULL) WITHOUT ROWID');
  db.exec('CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
  const get = db.prepare('SELECT result FROM orders WHERE id = ?').pluck();
  const put = db.prepare('INSERT INTO orders (id, result) VALUES (?, ?)');
  const meta = db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)');
  const apply = db.transaction((batch, index) => {
    for (const r of batch) {
      if (get.get(r.orderId) !== undefined) throw new Error('unexpected duplicate');
      put.run(r.orderId, JSON.stringify(r));
    }
    meta.run('applied', String(index));
  });
  return {
    apply,
    get: (id) => get.get(id),
    close: () => db.close(),
  };
}

function lmdb(dir) {
  const { open } = require(path.join(modules, 'lmdb'));
  const db = open({ path: path.join(dir, 'ledger.mdb'), noSync: true, encoding: 'msgpack', cache: false });
  return {
    apply: (batch, index) =>
      db.transactionSync(() => {
        for (const r of batch) {
          if (db.get(r.orderId) !== undefined) throw new Error('unexpected duplicate');
          db.putSync(r.orderId, r);
        }
        db.putSync('\u0000applied', index);
      }),
    get: (id) => db.get(id),
    close: () => db.close(),
  };
}

const which = arg('store', 'both');
if (which === 'both' || which === 'sqlite') run('better-sqlite3', sqlite);
if (which === 'both' || which === 'lmdb') run('lmdb', lmdb);
